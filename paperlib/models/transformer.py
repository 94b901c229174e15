"""The one-layer ReLU transformer of the grokking experiments (Nanda et al., progress measures; Sec 5.5).

As the reference code (``transformers.py`` of mechanistic-interpretability-grokking/progress-measures-paper):
input "a b =" as three tokens from a vocabulary of p + 1 (the numbers and "="), learned positional embeddings,
multi-head attention with a causal mask, a ReLU MLP, no LayerNorm, and an unembedding to all p + 1 tokens
read at the last position. Every weight is drawn from N(0, 1/d_model) except the unembedding, N(0, 1/(p + 1));
the MLP biases start at zero. Parameters have the reference's shapes and are drawn in its order, so a seed
gives the reference's initial weights and a reference state_dict loads by position.

``forward`` returns the logits over the whole vocabulary, as the reference's loss reads them (the "=" output
is one more, always wrong, class). The features are the last position's residual stream; the classification
heads (``head_weight``, for MIR/HDR) are the unembedding's first p columns, one per label.

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
        vocab, root = p + 1, math.sqrt(d_model)

        def normal(*shape: int) -> nn.Parameter:
            return nn.Parameter(torch.randn(*shape) / root)

        # The reference's shapes, names lower-cased, in its order of drawing.
        self.w_e = normal(d_model, vocab)
        self.w_pos = normal(n_ctx, d_model)
        self.w_k = normal(n_heads, d_head, d_model)
        self.w_q = normal(n_heads, d_head, d_model)
        self.w_v = normal(n_heads, d_head, d_model)
        self.w_o = normal(d_model, n_heads * d_head)
        self.w_in = normal(d_mlp, d_model)
        self.b_in = nn.Parameter(torch.zeros(d_mlp))
        self.w_out = normal(d_model, d_mlp)
        self.b_out = nn.Parameter(torch.zeros(d_model))
        self.w_u = nn.Parameter(torch.randn(d_model, vocab) / math.sqrt(vocab))

    @property
    def head_weight(self) -> torch.Tensor:
        """The classification heads, one row per label (p, d_model): the "=" column is no class."""
        return self.w_u[:, : self.p].T

    def _heads(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:  # (n, t, d) -> (n, h, t, d_head)
        return (x @ w.flatten(0, 1).T).unflatten(-1, (self.n_heads, self.d_head)).transpose(1, 2)

    def forward(self, tokens: torch.Tensor, last_only: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits over the vocabulary (n, p + 1) and last-position features (n, d_model) for tokens (n, 3)."""
        x = F.one_hot(tokens, self.p + 1).to(self.w_e.dtype) @ self.w_e.T + self.w_pos
        k, v = self._heads(x, self.w_k), self._heads(x, self.w_v)
        if last_only:
            q = self._heads(x[:, -1:], self.w_q)  # (n, h, 1, d): only "=" queries
            att = (q @ k.transpose(-1, -2)) / math.sqrt(self.d_head)  # "=" sees every position: no mask
            z = (att.softmax(-1) @ v).transpose(1, 2).flatten(2)
            resid = x[:, -1:] + z @ self.w_o.T
        else:
            q = self._heads(x, self.w_q)
            att = (q @ k.transpose(-1, -2)) / math.sqrt(self.d_head)
            t = x.shape[1]
            causal = torch.ones(t, t, dtype=torch.bool, device=x.device).tril()
            att = att.masked_fill(~causal, float("-inf"))
            z = (att.softmax(-1) @ v).transpose(1, 2).flatten(2)
            resid = x + z @ self.w_o.T
        resid = resid + F.relu(resid @ self.w_in.T + self.b_in) @ self.w_out.T + self.b_out
        feats = resid[:, -1]
        return feats @ self.w_u, feats
