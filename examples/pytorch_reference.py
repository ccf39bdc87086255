"""PyTorch CPU reference figures for `runner bench nets`' layer rows (batch 1024 x 17 tokens, width 128).

Times, on 2 threads, a plain-PyTorch Mamba-1 layer (sequential scan over the 17 tokens, decay and
input terms materialised as [B, L, d_inner, d_state] before the loop) and PyTorch's own
TransformerEncoder with 1 and 2 layers (8 heads, feed-forward 256, dropout 0, post-LN): forward with
autograd recording, forward under no_grad (PyTorch's fused inference path), and forward + backward.

    python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch
    /tmp/torchenv/bin/python examples/pytorch_reference.py
"""
import time, math, torch, torch.nn as nn, torch.nn.functional as F
torch.set_num_threads(2)
torch.manual_seed(0)
B, L, D = 1024, 17, 128

class Mamba(nn.Module):
    def __init__(s, d, n=16, k=4, e=2):
        super().__init__()
        di = e * d; r = math.ceil(d / 16)
        s.di, s.n, s.r, s.k = di, n, r, k
        s.norm = nn.LayerNorm(d)
        s.in_proj = nn.Linear(d, 2 * di, bias=False)
        s.conv = nn.Conv1d(di, di, k, groups=di, padding=k - 1)
        s.x_proj = nn.Linear(di, r + 2 * n, bias=False)
        s.dt_proj = nn.Linear(r, di)
        s.A_log = nn.Parameter(torch.log(torch.arange(1, n + 1).float()).repeat(di, 1))
        s.D = nn.Parameter(torch.ones(di))
        s.out_proj = nn.Linear(di, d, bias=False)
    def forward(s, x):
        b, l, _ = x.shape
        h = s.norm(x)
        xz = s.in_proj(h); u, z = xz.chunk(2, -1)
        u = F.silu(s.conv(u.transpose(1, 2))[..., :l].transpose(1, 2))
        dbc = s.x_proj(u); dt, Bm, Cm = dbc.split([s.r, s.n, s.n], -1)
        dt = F.softplus(s.dt_proj(dt))
        A = -torch.exp(s.A_log)
        dA = torch.exp(dt.unsqueeze(-1) * A)            # b l di n
        dBu = dt.unsqueeze(-1) * Bm.unsqueeze(2) * u.unsqueeze(-1)
        st = torch.zeros(b, s.di, s.n)
        ys = []
        for t in range(l):
            st = dA[:, t] * st + dBu[:, t]
            ys.append((st * Cm[:, t].unsqueeze(1)).sum(-1))
        y = torch.stack(ys, 1) + u * s.D
        return x + s.out_proj(y * F.silu(z))

def timeit(f, reps=5):
    f()
    t = time.perf_counter()
    for _ in range(reps): f()
    return (time.perf_counter() - t) * 1e3 / reps

x = torch.randn(B, L, D)
rows = []
for name, mod in [("mamba x1", Mamba(D)),
                  ("transformer x1", nn.TransformerEncoder(nn.TransformerEncoderLayer(D, 8, 256, dropout=0.0, batch_first=True), 1, enable_nested_tensor=False)),
                  ("transformer x2", nn.TransformerEncoder(nn.TransformerEncoderLayer(D, 8, 256, dropout=0.0, batch_first=True), 2, enable_nested_tensor=False))]:
    def fb():
        mod.zero_grad(set_to_none=True)
        mod(x).mean().backward()
    def fwd_grad():
        mod(x).mean()
    def fwd_nograd():
        with torch.no_grad():
            mod.eval(); mod(x); mod.train()
    rows.append((name, timeit(fwd_grad), timeit(fwd_nograd), timeit(fb)))
print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, {torch.backends.cpu.get_cpu_capability()}")
print(f"{'stack':<16} {'fwd (grad)':>10} {'fwd (no_grad)':>14} {'fwd+bwd':>9}")
for r in rows: print(f"{r[0]:<16} {r[1]:>10.1f} {r[2]:>14.1f} {r[3]:>9.1f}")
