"""Measure any classifier: MIR, HDR, MI and the entropies between its penultimate features and its heads.

``probe(model, data)`` finds the final linear classifier of ``model`` (or takes the one named), captures that
layer's input with a forward pre-hook while the model runs over ``data``, and adds each batch's features and
labels to a ``paperlib.StreamingInterplay`` on the device they were computed on, which gives
``paperlib.metrics.interplay``'s values for the layer's weight rows without keeping every feature row. Nothing about the model is assumed beyond an
``nn.Linear`` classifier: torchvision classifiers, Hugging Face models fed dict batches and this project's
WideResNet (which returns ``(logits, features)``) all work unchanged, because the model's output is only used
to recognise the head, never to read features.

``paperlib.probe`` is the function; the module is reached with ``from paperlib.probe import ...`` or
``importlib.import_module("paperlib.probe")`` (``import paperlib.probe as m`` gives the function, since the
package attribute of that name is the function).
"""

from __future__ import annotations

import dataclasses
import itertools
import weakref
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .metrics import _check_batch_size
from .streaming import BatchMean, StreamingInterplay

__all__ = ["Probe", "probe", "IGNORE_INDEX", "CHUNK"]

IGNORE_INDEX = -100
"""A label of -100 marks a row without a target (padding) in PyTorch's cross entropy and in Hugging Face
batches; such rows are left out of the measurement."""

CHUNK = 256
"""Rows per forward pass when ``data`` is a pair of tensors, so that a large tensor never meets the model in
one piece."""

LABEL_MODES = ("true", "predicted")


@dataclasses.dataclass(frozen=True)
class Probe:
    """What ``probe`` measured and what it was measured on; ``as_dict()`` gives one flat results-table row.

    The six information quantities are ``paperlib.metrics.interplay``'s, with the same names; with
    ``batch_size`` set they are means over batches (ratios averaged per batch, as in the paper).
    """

    #: Matrix mutual-information ratio ``MI / min(h_features, h_heads)`` (Definition 3.3).
    mir: float
    #: Matrix entropy-difference ratio ``|h_features - h_heads| / max(h_features, h_heads)`` (Definition 3.4).
    hdr: float
    #: Matrix mutual information ``h_features + h_heads - h_joint`` (Definition 3.2), in nats.
    mi: float
    #: Matrix entropy of G(features), the cosine Gram of the n feature rows.
    h_features: float
    #: Matrix entropy of G(heads[labels]), the Gram of each sample's class head.
    h_heads: float
    #: Matrix entropy of the Hadamard product G(features) * G(heads[labels]).
    h_joint: float
    #: Fraction of the n samples whose head output (bias included) has its argmax at the true label.
    accuracy: float
    #: Number of samples (feature rows) measured, after ``max_samples`` and ignored (-100) labels.
    n: int
    #: Feature dimension: the head's ``in_features``.
    d: int
    #: Number of classes: the head's ``out_features`` (its weight rows).
    classes: int
    #: Dotted name of the head inside the model (``""`` when the model itself is the linear layer).
    head: str
    #: ``None`` for the exact dataset-level values, else the size of the batches averaged over.
    batch_size: int | None
    #: ``"true"`` or ``"predicted"``: whose labels pick each sample's head row.
    labels: str
    #: Batches left out of the batch mean because a ratio was undefined there (always 0 when exact).
    skipped_batches: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The fields as a plain dict, in declaration order."""
        return dataclasses.asdict(self)


@dataclasses.dataclass
class _Batch:
    """One batch as the model will be called with it: ``model(*args, **kwargs)``, and its labels."""

    args: tuple
    kwargs: dict
    labels: Any

    def rows(self) -> int:
        """How many rows the head will see (labels of shape (n,) or, for a per-token head, (n, seq))."""
        return torch.as_tensor(self.labels).numel()


def _is_pair(data: object) -> bool:
    return (
        isinstance(data, (tuple, list))
        and len(data) == 2
        and all(isinstance(part, torch.Tensor) for part in data)
    )


def _as_batch(batch: object, index: int) -> _Batch:
    if isinstance(batch, Mapping):
        if "labels" not in batch:
            raise ValueError(
                f"batch {index} is a dict without a 'labels' key (keys: {sorted(map(str, batch))}); put the "
                "class indices under 'labels', as Hugging Face collators do"
            )
        return _Batch((), {k: v for k, v in batch.items() if k != "labels"}, batch["labels"])
    if isinstance(batch, (tuple, list)) and len(batch) >= 2:
        return _Batch((batch[0],), {}, batch[1])
    raise ValueError(
        f"batch {index} is a {type(batch).__name__}; each batch must be (inputs, labels) or a dict with a "
        "'labels' key"
    )


def _batches(data: object) -> Iterator[_Batch]:
    """The batches of any accepted form of ``data``; the form is checked here, before anything runs."""
    if _is_pair(data):
        inputs, labels = data
        if inputs.shape[0] != labels.shape[0]:
            raise ValueError(
                f"inputs have {inputs.shape[0]} rows but labels have {labels.shape[0]}; pass one label per input"
            )
        return (
            _Batch((inputs[i : i + CHUNK],), {}, labels[i : i + CHUNK]) for i in range(0, len(labels), CHUNK)
        )
    if isinstance(data, (torch.Tensor, Mapping, str, bytes)) or not isinstance(data, Iterable):
        raise TypeError(
            f"data must be a DataLoader (or any iterable) of (inputs, labels) or of dict batches with a "
            f"'labels' key, or a pair of tensors (inputs, labels); got {type(data).__name__}"
        )
    return (_as_batch(batch, i) for i, batch in enumerate(data))


def _to(obj: Any, device: torch.device) -> Any:
    """``obj`` with every tensor in it (through tuples, lists and dicts) moved to ``device``."""
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, Mapping):
        return {k: _to(v, device) for k, v in obj.items()}
    if isinstance(obj, (tuple, list)):
        return type(obj)(_to(v, device) for v in obj)
    return obj


def _forward(model: nn.Module, batch: _Batch, device: torch.device) -> Any:
    return model(*_to(batch.args, device), **_to(batch.kwargs, device))


def _model_device(model: nn.Module) -> torch.device:
    for tensor in itertools.chain(model.parameters(), model.buffers()):
        return tensor.device
    return torch.device("cpu")


def _labels(batch: _Batch, index: int) -> torch.Tensor:
    y = torch.as_tensor(batch.labels)
    if y.dtype.is_floating_point or y.dtype.is_complex or y.dtype == torch.bool:
        raise ValueError(
            f"labels of batch {index} have dtype {y.dtype}; probe needs integer class indices (a regression "
            "or one-hot target has no head row to pick: pass the class index, e.g. target.argmax(-1))"
        )
    return y.reshape(-1).long().cpu()


def _output_tensors(out: Any) -> list[torch.Tensor]:
    """Every tensor in a model's output, through tuples, lists and dicts (Hugging Face outputs are dicts)."""
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, Mapping):
        return [t for v in out.values() for t in _output_tensors(v)]
    if isinstance(out, (tuple, list)):
        return [t for v in out for t in _output_tensors(v)]
    return []


def _describe(model: nn.Module, names: Iterable[str]) -> str:
    parts = []
    for name in names:
        m = model.get_submodule(name)
        parts.append(f"{name or '<model>'!r} ({m.in_features} -> {m.out_features})")
    return ", ".join(parts) or "none"


def _linears(model: nn.Module) -> list[str]:
    return [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]


def _detect_head(model: nn.Module, batch: _Batch, device: torch.device, handles: list, index: int = 0) -> str:
    """The dotted name of the classifier, from one forward pass of ``batch`` with a hook on every Linear.

    The head is the Linear whose output the model returns (as a tensor, a tuple element or a dict value such
    as Hugging Face's ``logits``). When no Linear's output is returned as is, it is the one Linear that ran,
    has as many outputs as some returned tensor is wide, and has more outputs than the largest label seen.
    """
    names = _linears(model)
    if not names:
        raise ValueError(
            f"{type(model).__name__} has no nn.Linear module, so there is no classifier to read heads from; pass "
            "head=<module or dotted name> of the final linear layer (probe reads its weight rows)"
        )
    outputs: dict[str, list] = {}

    def recorder(name: str):
        def hook(module, args, output):
            if isinstance(output, torch.Tensor):
                outputs.setdefault(name, []).append(weakref.ref(output))

        return hook

    mine = [model.get_submodule(name).register_forward_hook(recorder(name)) for name in names]
    handles.extend(mine)
    try:
        returned = _output_tensors(_forward(model, batch, device))
    finally:
        for handle in mine:
            handle.remove()
    returned_ids = {id(t) for t in returned}
    found = [
        name
        for name in names
        if any((t := ref()) is not None and id(t) in returned_ids for ref in outputs.get(name, ()))
    ]
    how = "whose output the model returns"
    if not found:
        widths = {t.shape[-1] for t in returned if t.dim() and t.is_floating_point()}
        y = _labels(batch, index)
        y = y[y != IGNORE_INDEX]
        top = int(y.max()) if y.numel() else -1
        found = [
            name
            for name in names
            if name in outputs
            and (not widths or model.get_submodule(name).out_features in widths)
            and model.get_submodule(name).out_features > top
        ]
        how = "that ran, match the model's output width and exceed the largest label"
    if len(found) == 1:
        return found[0]
    if not found:
        raise ValueError(
            f"found no classifier head in {type(model).__name__}: no nn.Linear {how}; its nn.Linear modules "
            f"are {_describe(model, names)}; pass head=<dotted name> of the final linear classifier"
        )
    raise ValueError(
        f"{len(found)} nn.Linear modules could be the classifier head ({how}): {_describe(model, found)}; "
        f"pass head={found[-1]!r} (or whichever is the classifier) to choose"
    )


def _resolve_head(model: nn.Module, head: str | nn.Module) -> str:
    """The dotted name of the given head, after checking it is an ``nn.Linear`` inside ``model``."""
    if isinstance(head, str):
        try:
            module = model.get_submodule(head)
        except AttributeError:
            raise ValueError(
                f"{type(model).__name__} has no submodule {head!r}; its nn.Linear modules are "
                f"{_describe(model, _linears(model))}; pass one of those names, or head=None to find it"
            ) from None
        name = head
    elif isinstance(head, nn.Module):
        name = next((n for n, m in model.named_modules() if m is head), None)
        if name is None:
            raise ValueError(
                "the head module given is not a submodule of the model; pass the model's own classifier module "
                "or its dotted name"
            )
        module = head
    else:
        raise TypeError(f"head must be None, a dotted name or an nn.Module, got {type(head).__name__}")
    if not isinstance(module, nn.Linear):
        raise ValueError(
            f"head {name!r} is a {type(module).__name__}, not an nn.Linear; probe reads the classifier's weight "
            f"rows, so name the final linear layer (the model's nn.Linear modules: "
            f"{_describe(model, _linears(model))})"
        )
    return name


def _check_args(max_samples: object, labels: object) -> None:
    if labels not in LABEL_MODES:
        raise ValueError(
            f"labels must be 'true' (the data's labels) or 'predicted' (the head's argmax), got {labels!r}"
        )
    if max_samples is not None and (
        isinstance(max_samples, bool) or not isinstance(max_samples, int) or max_samples < 1
    ):
        raise ValueError(f"max_samples must be a positive int or None (all the data), got {max_samples!r}")


def _check_heads(module: nn.Linear, name: str) -> torch.Tensor:
    heads = module.weight.detach()
    zero = (heads == 0).all(dim=1).nonzero().squeeze(1).tolist()
    if zero:
        raise ValueError(
            f"head {name!r} has {len(zero)} all-zero weight row(s) (classes {zero[:10]}), which have no direction "
            "to compare features with; a freshly built model may initialize its head to zero (torchvision's "
            "VisionTransformer does): train it or initialize the head first"
        )
    return heads


def _run(
    model: nn.Module,
    batches: Iterable[_Batch],
    head: str | nn.Module | None,
    max_samples: int | None,
    device: str | torch.device | None,
    batch_size: int | None,
    labels: str,
) -> Probe:
    """``probe`` on batches already in ``_Batch`` form (``Monitor`` keeps its evaluation subset that way).

    Each batch's features go into a ``StreamingInterplay`` (or, for the batch mean, a ``BatchMean``) on the
    device they were computed on, so no feature row is kept beyond what those hold."""
    device = torch.device(device) if device is not None else _model_device(model)
    modes = [(m, m.training) for m in model.modules()]
    handles: list = []
    try:
        model.eval()
        with torch.no_grad():
            stream = iter(batches)
            first = next(stream, None)
            if first is None:
                raise ValueError("data is empty: it yielded no batch, so there are no samples to measure")
            name = _detect_head(model, first, device, handles) if head is None else _resolve_head(model, head)
            module = model.get_submodule(name)
            heads, classes = _check_heads(module, name), module.out_features
            sink = StreamingInterplay(classes) if batch_size is None else BatchMean(heads, batch_size)
            captured: list[torch.Tensor] = []

            def grab(mod, args, kwargs):
                captured.append(args[0] if args else kwargs["input"])

            handles.append(module.register_forward_pre_hook(grab, with_kwargs=True))
            n, correct = 0, 0
            for index, batch in enumerate(itertools.chain([first], stream)):
                captured.clear()
                y = _labels(batch, index)
                _forward(model, batch, device)
                if len(captured) != 1:
                    raise ValueError(
                        f"head {name!r} ran {len(captured)} times in one forward pass of batch {index}; probe "
                        "needs the classifier that runs once per batch"
                    )
                x = captured[0].detach()
                rows = x.reshape(-1, x.shape[-1])
                if rows.shape[0] != y.shape[0]:
                    raise ValueError(
                        f"head {name!r} saw {rows.shape[0]} rows in batch {index} (input shape {tuple(x.shape)}) "
                        f"but the batch has {y.shape[0]} labels; give one label per row the head sees (e.g. "
                        "(n, seq) labels for a per-token head) or name a per-sample classifier"
                    )
                keep = (y != IGNORE_INDEX).nonzero().squeeze(1)
                if max_samples is not None:
                    keep = keep[: max_samples - n]
                if keep.numel():
                    y = y[keep]
                    _check_labels(y, classes, name, index)
                    rows = rows[keep.to(rows.device)]
                    y = y.to(rows.device)
                    pred = F.linear(rows, module.weight, module.bias).argmax(-1)
                    correct += int((pred == y).sum())
                    sink.update(rows, y if labels == "true" else pred)
                    n += keep.numel()
                if max_samples is not None and n >= max_samples:
                    break
    finally:
        for handle in handles:
            handle.remove()
        for m, mode in modes:
            m.training = mode
    if n == 0:
        raise ValueError(f"data has no labelled sample (every label is the ignore index {IGNORE_INDEX})")
    measured = sink.compute(heads) if batch_size is None else sink.compute()
    return Probe(
        **{key: measured[key] for key in ("mir", "hdr", "mi", "h_features", "h_heads", "h_joint")},
        accuracy=correct / n,
        n=n,
        d=module.in_features,
        classes=classes,
        head=name,
        batch_size=batch_size,
        labels=labels,
        skipped_batches=int(measured.get("skipped_batches", 0)),
    )


def _check_labels(y: torch.Tensor, classes: int, name: str, index: int) -> None:
    low, high = int(y.min()), int(y.max())
    if low < 0 or high >= classes:
        raise ValueError(
            f"labels must be class indices in [0, {classes - 1}] for head {name!r} ({classes} rows), got range "
            f"[{low}, {high}] in batch {index}; check that this head classifies these labels, or name the right "
            "one with head="
        )


def probe(
    model: nn.Module,
    data: Iterable | tuple[torch.Tensor, torch.Tensor],
    head: str | nn.Module | None = None,
    *,
    max_samples: int | None = None,
    device: str | torch.device | None = None,
    batch_size: int | None = None,
    labels: str = "true",
) -> Probe:
    """MIR, HDR, MI and the three matrix entropies between a classifier's features and its heads.

    The features are the input of the ``head`` layer, captured with a forward pre-hook and flattened to
    (n, d); the heads are that layer's weight rows, shape (C, d). The bias takes no part in the measurement
    (the paper compares directions: features with weight rows); it does enter the head output used for
    ``accuracy`` and for ``labels="predicted"``.

    ``model``: any ``nn.Module``. It runs in ``eval()`` mode under ``torch.no_grad()``; every submodule's
    training flag is restored and every hook removed afterwards, also when an error is raised.

    ``data``: a DataLoader (or any iterable) of ``(inputs, labels)`` batches, calling ``model(inputs)``; or of
    dict batches with a ``"labels"`` key, calling ``model(**rest)`` (Hugging Face style); or a pair of tensors
    ``(inputs, labels)``, run through the model ``CHUNK`` rows at a time. Rows labelled -100 are left out.

    ``head``: the final ``nn.Linear`` classifier, as a module or a dotted name (``"fc"``, ``"classifier.1"``,
    ``"heads.head"``, ``"lm_head"``). ``None`` finds it from one forward pass of the first batch: the Linear
    whose output the model returns, else the single Linear as wide as the model's output and wider than the
    largest label (that batch is run again for the measurement).

    ``max_samples`` caps n (the data is read only until n rows are collected). ``device`` is where inputs are
    moved (default: the device of the model's parameters; the model itself is not moved).
    ``batch_size=None`` gives the exact dataset-level values; an int gives the paper's batch mean over
    consecutive batches of that size (see ``paperlib.metrics.interplay``). ``labels="true"`` picks each
    sample's head row by its label, ``"predicted"`` by the argmax of the head output.

    Cost: one forward pass over the data (two for the first batch when the head is found automatically),
    each batch's features added to a ``StreamingInterplay`` on the model's device (float64 sums of C d^2
    numbers, whatever n is; the batch mean holds one batch of rows), then its exact values solve an eigenvalue
    problem of size min(n, d * C). A resnet18 with a one-channel stem on 10,000 Fashion-MNIST images (d = 512, C = 10),
    exact, took 70 s on the CPU: 37 s of forward passes and 38 s for a 5,120 x 5,120 eigenvalue problem
    (measured while other jobs shared the 2-core machine, when probe still kept all n rows).

    Errors (ValueError, with what to do): an unknown head name, a head that is not an ``nn.Linear`` or not in
    the model, no or several candidate heads (the message lists them with their shapes), labels outside
    [0, C - 1] or not integers, empty data, a bad ``labels`` or ``max_samples`` value; ``interplay``'s own
    errors (raised by ``StreamingInterplay``: zero feature rows, numbered in the whole stream, a single class,
    an undefined ratio) pass through. ``TypeError`` for data of
    an unknown form.
    """
    _check_args(max_samples, labels)
    if batch_size is not None:
        batch_size = _check_batch_size(batch_size)
    return _run(model, _batches(data), head, max_samples, device, batch_size, labels)
