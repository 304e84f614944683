"""Training a SliceNet-style stack of ConvSteps with PyTorch, the convolutions computed by sepcpp.

"Depthwise Separable Convolutions for Neural Machine Translation" (Kaiser, Gomez, Chollet 2017)
builds SliceNet from

    ConvStep_{d,s}(W, x) = LN(SepConv_{d,s}(W, ReLU(x)))

over (batch, length, channels) sequences: windows 3, 7, 15 and 31, super-separable convolutions
(the pointwise step in groups, alternating 2 and 3 so that the groups mix), causal (left-only)
padding in the decoder, and residual connections. examples/convstep.py runs such a stack forward in
NumPy; this file trains one, with ``sepcpp.torch.SuperSeparableConv1d`` layers (forward and
backward in sepcpp, one fused pass each way) and PyTorch for the rest (embedding, layer norm,
loss, Adam).

The toy task: a sequence of random tokens, where the model must output, at every step t, the token
it saw ``--delay`` steps earlier. A causal model can only do that by carrying the token forward
through its windows (31 + 15 + 7 + 3 - 3 = 53 steps of receptive field), so the loss falls from
ln(vocab) (guessing) towards 0 as it learns to.

The activations stay in (batch, length, channels) memory, which LayerNorm wants; each convolution
takes the (batch, channels, length) view of it (``x.transpose(1, 2)``, no copy), which sepcpp.torch
computes in its channels-last layout and returns in the same layout.

    python examples/train_slicenet.py              # 300 steps
    python examples/train_slicenet.py --quick      # 50 steps, a few seconds
    python examples/train_slicenet.py --backend torch   # the same network on torch.nn.functional
    python examples/train_slicenet.py --compile    # under torch.compile(fullgraph=True)
"""

from __future__ import annotations

import argparse
import math
import time

import torch
import torch.nn.functional as F

import sepcpp.torch as st


class ConvStep(torch.nn.Module):
    """LN(SuperSepConv(ReLU(x))) on (batch, length, channels) tensors, causal."""

    def __init__(self, channels: int, window: int, groups: int, backend: str = "sepcpp"):
        super().__init__()
        self.conv = st.SuperSeparableConv1d(channels, channels, window, groups, padding="causal")
        self.norm = torch.nn.LayerNorm(channels, eps=1e-3)  # Keras' epsilon, as in examples/convstep.py
        self.backend = backend

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(x).transpose(1, 2)  # (batch, channels, length): a view of the same memory
        c = self.conv
        if self.backend == "sepcpp":
            y = c(h)
        else:  # the same computation on torch's own convolutions, for comparison
            h = F.pad(h, ((c.kernel_size[0] - 1) * c.dilation[0], 0))
            h = F.conv1d(h, c.depthwise_weight, None, c.stride, 0, c.dilation, groups=c.in_channels)
            y = F.conv1d(h, c.pointwise_weight, c.bias, groups=c.groups)
        return self.norm(y.transpose(1, 2))


class SliceNetStack(torch.nn.Module):
    """Token embedding, ConvSteps with windows 3-7-15-31 (each with a residual connection, groups
    alternating 2 and 3), and a linear read-out to the vocabulary."""

    def __init__(self, vocab: int, channels: int = 48, windows=(3, 7, 15, 31), backend: str = "sepcpp"):
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, channels)
        self.steps = torch.nn.ModuleList(ConvStep(channels, k, 2 if i % 2 == 0 else 3, backend)
                                         for i, k in enumerate(windows))
        self.out = torch.nn.Linear(channels, vocab)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens)  # (batch, length, channels)
        for step in self.steps:
            x = x + step(x)
        return self.out(x)  # (batch, length, vocab) logits


def batch(generator: torch.Generator, size: int, length: int, vocab: int, delay: int):
    """Random tokens and, at each step, the token ``delay`` steps earlier (-100: nothing to copy yet)."""
    tokens = torch.randint(0, vocab, (size, length), generator=generator)
    target = torch.full_like(tokens, -100)
    target[:, delay:] = tokens[:, :-delay]
    return tokens, target


def train(steps: int = 300, batch_size: int = 16, length: int = 64, vocab: int = 16, delay: int = 20,
          channels: int = 48, lr: float = 1e-2, seed: int = 0, backend: str = "sepcpp", log_every: int = 10,
          quiet: bool = False, compile: bool = False) -> list:
    """Trains a fresh SliceNetStack on the delayed-copy task; returns the loss of every step."""
    torch.manual_seed(seed)
    model = SliceNetStack(vocab, channels, backend=backend)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    forward = torch.compile(model, fullgraph=True) if compile else model  # no graph break: sepcpp's ops are traced
    data = torch.Generator().manual_seed(seed + 1)
    losses = []
    start = time.perf_counter()
    for step in range(1, steps + 1):
        tokens, target = batch(data, batch_size, length, vocab, delay)
        loss = F.cross_entropy(forward(tokens).reshape(-1, vocab), target.reshape(-1), ignore_index=-100)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if not quiet and (step % log_every == 0 or step == 1):
            recent = losses[-log_every:]
            print(f"step {step:4d}  loss {sum(recent) / len(recent):.4f}  "
                  f"({(time.perf_counter() - start) / step * 1e3:.1f} ms/step)", flush=True)
    return losses


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run: 50 steps")
    parser.add_argument("--steps", type=int, default=None, help="training steps (default 300, 50 with --quick)")
    parser.add_argument("--backend", choices=["sepcpp", "torch"], default="sepcpp",
                        help="the convolutions: sepcpp.torch (default) or torch.nn.functional, for comparison")
    parser.add_argument("--delay", type=int, default=20, help="how far back the token to copy is")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--compile", action="store_true",
                        help="run the model under torch.compile(fullgraph=True) (compiling takes a while)")
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="torch's intra-op threads (default 1: sepcpp's own pool runs the convolutions, the "
                             "rest is small; 0 keeps torch's default)")
    args = parser.parse_args(argv)
    if args.torch_threads > 0:
        torch.set_num_threads(args.torch_threads)
    steps = args.steps if args.steps is not None else (50 if args.quick else 300)
    print(f"SliceNet-style ConvSteps (windows 3-7-15-31, super-separable, causal, layer norm) on a delayed copy "
          f"(delay {args.delay}), {args.backend} convolutions, torch threads {torch.get_num_threads()}; "
          f"guessing costs ln(16) = {math.log(16):.4f}")
    losses = train(steps=steps, delay=args.delay, seed=args.seed, backend=args.backend,
                   log_every=10 if steps <= 100 else 25, compile=args.compile)
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    print(f"loss {first:.4f} -> {last:.4f} (mean of the first and the last five steps)")


if __name__ == "__main__":
    main()
