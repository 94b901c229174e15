"""The WideResNets against USB's (semilearn 0.3.2, ``semilearn/nets/wrn/wrn.py`` and ``wrn_var.py``).

The numbers below were read off USB's own classes (``wrn_28_2``, ``wrn_28_8``, ``wrn_var_37_2`` at commit
a8ec1d7 of microsoft/Semi-supervised-learning, the 0.3.2 release): parameter count, number of state_dict
tensors and the SHA-256 of ``repr`` of the ordered list of their shapes (``num_batches_tracked`` is ``()``).
The wiring that the shapes cannot show (which input each branch sees) is checked with hooks.
"""

import hashlib

import pytest
import torch
from torch import nn

from paperlib.models import build
from paperlib.models.wrn import Block
from paperlib.train.supervised import Recipe, make_model

USB = {
    # name: (classes, parameters, state tensors, sha256 of the ordered shape list)
    "wrn-28-2": (10, 1_467_626, 156, "3bfd963a8e6d421228f05e422ed743d2eaa108b87324c3b8e4c65640fe74ac2a"),
    "wrn-28-8": (100, 23_401_028, 156, "f9f5d512518b20947f9c7750ce58177fa5a1065a49dd4329a3ee69f733dab62e"),
    "wrn-37-2": (10, 5_929_450, 205, "c2f1fa35dbcc891ef1ed8d15ae3c2caac8d61fe9216ea57839b6eaee8200bc29"),
}
# USB's WRN-28-2 state_dict starts: stem conv (weight, bias), then block1.layer.0 as bn1 (5 tensors), conv1,
# bn2 (5 tensors), conv2, convShortcut, and ends with the final BN's 5 tensors and the classifier.
BN16, BN32 = [(16,)] * 4 + [()], [(32,)] * 4 + [()]
USB_28_2_HEAD = [(16, 3, 3, 3), (16,), *BN16, (32, 16, 3, 3), *BN32, (32, 32, 3, 3), (32, 16, 1, 1), *BN32]
USB_28_2_TAIL = [(128,)] * 4 + [(), (10, 128), (10,)]


def _shapes(model: nn.Module) -> list[tuple[int, ...]]:
    return [tuple(v.shape) for v in model.state_dict().values()]


@pytest.mark.parametrize("name", list(USB))
def test_parameters_and_ordered_state_match_usb(name):
    classes, params, tensors, digest = USB[name]
    model = build(name, classes)
    shapes = _shapes(model)
    assert sum(p.numel() for p in model.parameters()) == params
    assert len(shapes) == tensors
    assert hashlib.sha256(repr(shapes).encode()).hexdigest() == digest


def test_state_order_begins_and_ends_as_usb():
    shapes = _shapes(build("wrn-28-2", 10))
    assert shapes[: len(USB_28_2_HEAD)] == USB_28_2_HEAD
    assert shapes[-len(USB_28_2_TAIL) :] == USB_28_2_TAIL


@pytest.mark.parametrize("name", ["wrn-28-2", "wrn-37-2", "wrn-10-1"])
def test_layers_biases_and_batchnorm_settings(name):
    model = build(name, 10)
    blocks = list(model.blocks)
    assert all(isinstance(b, Block) for b in blocks)
    assert model.stem.bias is not None and model.head.bias is not None
    convs = [m for b in blocks for m in b.modules() if isinstance(m, nn.Conv2d)]
    assert convs and all(c.bias is None for c in convs)
    bns = [m for b in blocks for m in b.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(bn.eps == 1e-5 and bn.momentum == 0.001 for bn in bns)
    assert model.bn.eps == 1e-3 and model.bn.momentum == 0.001
    acts = [m for m in model.modules() if isinstance(m, nn.LeakyReLU)]
    assert all(a.negative_slope == 0.1 for a in acts)


def test_wrn_37_2_is_usbs_four_group_variant():
    model = build("wrn-37-2", 10)
    firsts = [b for b in model.blocks if b.shortcut is not None]
    assert [(b.conv1.in_channels, b.conv1.out_channels, b.conv1.stride[0]) for b in firsts] == [
        (16, 32, 2),
        (32, 64, 2),
        (64, 128, 2),
        (128, 256, 2),
    ]
    assert model.num_features == 256 and len(model.blocks) == 16


def test_branch_inputs_follow_usbs_basic_block():
    """Group 1's first block feeds act(bn1(x)) to conv1 and the shortcut; later groups' first blocks feed
    the raw x to both; blocks without a projection feed act(bn1(x)) to conv1 and add x itself."""
    torch.manual_seed(0)
    model = build("wrn-28-2", 10).eval()
    seen: dict[str, torch.Tensor] = {}

    def keep(key):
        return lambda module, args: seen.__setitem__(key, args[0].clone())

    picks = {"g1": model.blocks[0], "g2": model.blocks[4], "g3": model.blocks[8], "plain": model.blocks[5]}
    for key, block in picks.items():
        block.register_forward_pre_hook(keep(key + ".in"))
        block.conv1.register_forward_pre_hook(keep(key + ".conv1"))
        if block.shortcut is not None:
            block.shortcut.register_forward_pre_hook(keep(key + ".short"))
    model(torch.randn(2, 3, 16, 16))
    act = nn.LeakyReLU(0.1)
    g1_pre = act(picks["g1"].bn1(seen["g1.in"]))
    assert torch.equal(seen["g1.conv1"], g1_pre) and torch.equal(seen["g1.short"], g1_pre)
    for key in ("g2", "g3"):
        assert torch.equal(seen[key + ".conv1"], seen[key + ".in"])
        assert torch.equal(seen[key + ".short"], seen[key + ".in"])
    assert picks["plain"].shortcut is None
    assert torch.equal(seen["plain.conv1"], act(picks["plain"].bn1(seen["plain.in"])))


def test_plain_block_adds_its_input():
    torch.manual_seed(0)
    block = Block(8, 8, 1).eval()
    x = torch.randn(2, 8, 5, 5)
    inner = block.conv2(block.act2(block.bn2(block.conv1(nn.functional.leaky_relu(block.bn1(x), 0.1)))))
    assert torch.allclose(block(x), x + inner, atol=1e-6)


def test_init_is_usbs():
    torch.manual_seed(0)
    model = build("wrn-28-8", 100)
    conv = model.blocks[1].conv2  # 128 -> 128, 3x3: kaiming normal, fan_out, gain sqrt(2)
    assert conv.weight.std().item() == pytest.approx((2 / (128 * 9)) ** 0.5, rel=0.02)
    assert model.head.weight.std().item() == pytest.approx((2 / (512 + 100)) ** 0.5, rel=0.03)  # xavier
    assert (model.head.bias == 0).all() and (model.bn.weight == 1).all() and (model.bn.bias == 0).all()


def test_recipe_bn_momentum_reaches_every_batchnorm():
    model = make_model(Recipe(model="wrn-10-1", bn_momentum=0.1), 0)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and all(bn.momentum == 0.1 for bn in bns)
    assert model.bn.eps == 1e-3 and model.blocks[0].bn1.eps == 1e-5
