"""The one-layer ReLU transformer of the grokking experiments (Nanda et al., progress measures; Sec 5.5).

Input "a b =" as three tokens from a vocabulary of p + 1 (the numbers and "="), learned positional embeddings,
multi-head attention with a causal mask, a ReLU MLP, no LayerNorm, and an unembedding read at the last
position. The features are that position's residual stream (what the unembedding reads); the classification
heads are the unembedding's columns, one per class.

With one layer nothing reads the outputs of the first two positions, so the query, attention output and MLP
are computed at the "=" position only (``last_only=True``, the default): the logits and all gradients are the
same as with the full sequence, for about a third of the work. Tokens enter as one-hot rows multiplied with
the embedding, which is faster than an index lookup's backward pass on the CPU.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class GrokTransformer(nn.Module):
    def __init__(
        self, p: int, d_model: int = 128, n_heads: int = 4, d_head: int = 32, d_mlp: int = 512, n_ctx: int = 3
    ) -> None:
        super().__init__()
        self.p, self.n_heads, self.d_head = p, n_heads, d_head
        scale = 1 / math.sqrt(d_model)
        self.embed = nn.Parameter(torch.randn(p + 1, d_model) * scale)
        self.pos = nn.Parameter(torch.randn(n_ctx, d_model) * scale)
        self.w_q = nn.Parameter(torch.randn(d_model, n_heads * d_head) * scale)
        self.w_k = nn.Parameter(torch.randn(d_model, n_heads * d_head) * scale)
        self.w_v = nn.Parameter(torch.randn(d_model, n_heads * d_head) * scale)
        self.w_o = nn.Parameter(torch.randn(n_heads * d_head, d_model) * scale)
        self.w_in = nn.Parameter(torch.randn(d_model, d_mlp) * scale)
        self.b_in = nn.Parameter(torch.zeros(d_mlp))
        self.w_out = nn.Parameter(torch.randn(d_mlp, d_model) / math.sqrt(d_mlp))
        self.b_out = nn.Parameter(torch.zeros(d_model))
        self.unembed = nn.Parameter(torch.randn(d_model, p) / math.sqrt(p))

    @property
    def head_weight(self) -> torch.Tensor:
        """The classification heads, one row per class (p, d_model)."""
        return self.unembed.T

    def _split(self, x: torch.Tensor) -> torch.Tensor:  # (n, t, h*d) -> (n, h, t, d)
        return x.view(x.shape[0], x.shape[1], self.n_heads, self.d_head).transpose(1, 2)

    def forward(self, tokens: torch.Tensor, last_only: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (n, p) and last-position features (n, d_model) for tokens (n, 3)."""
        x = F.one_hot(tokens, self.p + 1).to(self.embed.dtype) @ self.embed + self.pos
        k, v = self._split(x @ self.w_k), self._split(x @ self.w_v)
        if last_only:
            q = self._split(x[:, -1:] @ self.w_q)  # (n, h, 1, d): only "=" queries
            att = (q @ k.transpose(-1, -2)) / math.sqrt(self.d_head)  # "=" sees every position: no mask
            z = (att.softmax(-1) @ v).transpose(1, 2).reshape(x.shape[0], 1, -1)
            resid = x[:, -1:] + z @ self.w_o
        else:
            q = self._split(x @ self.w_q)
            att = (q @ k.transpose(-1, -2)) / math.sqrt(self.d_head)
            t = x.shape[1]
            causal = torch.ones(t, t, dtype=torch.bool, device=x.device).tril()
            att = att.masked_fill(~causal, float("-inf"))
            z = (att.softmax(-1) @ v).transpose(1, 2).reshape(x.shape[0], t, -1)
            resid = x + z @ self.w_o
        resid = resid + F.relu(resid @ self.w_in + self.b_in) @ self.w_out + self.b_out
        feats = resid[:, -1]
        return feats @ self.unembed, feats
