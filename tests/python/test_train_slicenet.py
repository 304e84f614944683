"""examples/train_slicenet.py: its short run (--quick) learns, and its network is what it says.

The script is run as a user runs it (a subprocess, its command line); its network is also checked
against the same network on torch.nn.functional (the example's --backend torch) and for
causality, so that a falling loss cannot come from a model that looks ahead at its targets.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from optional_deps import import_optional

torch = import_optional("torch")

pytestmark = pytest.mark.uses("torch")

_PATH = Path(__file__).resolve().parents[2] / "examples" / "train_slicenet.py"
_spec = importlib.util.spec_from_file_location("train_slicenet", _PATH)
example = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(example)


def test_quick_run_learns():
    proc = subprocess.run([sys.executable, str(_PATH), "--quick"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    steps = [int(m.group(1)) for line in lines if (m := re.match(r"step\s+(\d+)\s+loss", line))]
    assert steps[0] == 1 and steps[-1] == 50, proc.stdout
    m = re.search(r"loss (\d+\.\d+) -> (\d+\.\d+)", proc.stdout)
    assert m, proc.stdout
    first, last = float(m.group(1)), float(m.group(2))
    assert first > 2.5  # about ln(16) = 2.77: guessing
    assert last < 0.5 * first, proc.stdout  # a clear margin: it learned to carry the tokens


@pytest.fixture
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_network_matches_the_functional_one(one_thread):
    # The same parameters on torch's convolutions give the same logits and gradients.
    torch.manual_seed(0)
    net = example.SliceNetStack(16, 12).double()
    tokens = torch.randint(0, 16, (2, 40))
    y = net(tokens)
    y.square().sum().backward()
    grads = [p.grad.clone() for p in net.parameters()]
    net.zero_grad()
    for step in net.steps:
        step.backend = "torch"
    y_ref = net(tokens)
    y_ref.square().sum().backward()
    torch.testing.assert_close(y, y_ref, rtol=1e-10, atol=1e-10)
    for g, p in zip(grads, net.parameters()):
        torch.testing.assert_close(g, p.grad, rtol=1e-9, atol=1e-9)


def test_network_is_causal(one_thread):
    # Changing the tokens from step 30 on changes no logit before step 30.
    torch.manual_seed(1)
    net = example.SliceNetStack(16, 12)
    tokens = torch.randint(0, 16, (2, 40))
    changed = tokens.clone()
    changed[:, 30:] = (changed[:, 30:] + 1) % 16
    a, b = net(tokens), net(changed)
    assert torch.equal(a[:, :30], b[:, :30])
    assert not torch.equal(a[:, 30], b[:, 30])
