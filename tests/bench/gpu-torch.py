# The PyTorch side of the GPU step benchmark (tests/bench/gpu-device.sh): one FLUX transformer step
# in Black Forest Labs' layout and math (flux/modules/layers.py: double- and single-stream blocks,
# QK RMSNorm, RoPE over (t, h, w) ids, adaLN modulation), random weights, on the same card and
# configuration as `bench:runtime --device webgpu`, timed per step and per block type. Written from
# the reference code's structure so it needs nothing but torch (the device machine has no internet).
#   python3 gpu-torch.py --hidden 3072 --heads 24 --double 2 --single 4 --size 1024 --text 256 --json OUT
import argparse, json, math, statistics, time
import torch
import torch.nn as nn
import torch.nn.functional as F

p = argparse.ArgumentParser()
for k, d in [('hidden', 3072), ('heads', 24), ('double', 2), ('single', 4), ('size', 1024), ('text', 256), ('runs', 5)]:
    p.add_argument(f'--{k}', type=int, default=d)
p.add_argument('--dtype', default='bfloat16')
p.add_argument('--json')
a = p.parse_args()
dev = 'cuda' if torch.cuda.is_available() else 'cpu'
dt = getattr(torch, a.dtype)
H, NH = a.hidden, a.heads
HD = H // NH
AXES = [16, 56, 56] if HD == 128 else [HD // 8, (HD - HD // 8) // 2, HD - HD // 8 - (HD - HD // 8) // 2]
MLP = 4 * H


def rope(pos, dim, theta=10000):
    scale = torch.arange(0, dim, 2, dtype=torch.float64, device=pos.device) / dim
    omega = 1.0 / (theta ** scale)
    out = torch.einsum('...n,d->...nd', pos.double(), omega)
    out = torch.stack([torch.cos(out), -torch.sin(out), torch.sin(out), torch.cos(out)], dim=-1)
    return out.reshape(*out.shape[:-1], 2, 2).float()


def embed_nd(ids):
    return torch.cat([rope(ids[..., i], d) for i, d in enumerate(AXES)], dim=-3).unsqueeze(1)


def apply_rope(x, f):
    x_ = x.float().reshape(*x.shape[:-1], -1, 1, 2)
    out = f[..., 0] * x_[..., 0] + f[..., 1] * x_[..., 1]
    return out.reshape(*x.shape).type_as(x)


def attention(q, k, v, pe):
    q, k = apply_rope(q, pe), apply_rope(k, pe)
    x = F.scaled_dot_product_attention(q, k, v)
    B, h, L, D = x.shape
    return x.transpose(1, 2).reshape(B, L, h * D)


class RMS(nn.Module):
    def __init__(s):
        super().__init__(); s.scale = nn.Parameter(torch.ones(HD))

    def forward(s, x):
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + 1e-6)).to(x.dtype) * s.scale


def heads(qkv):
    B, L, _ = qkv.shape
    return qkv.reshape(B, L, 3, NH, HD).permute(2, 0, 3, 1, 4)


def ln(x):
    return F.layer_norm(x, (H,), eps=1e-6)


class Double(nn.Module):
    def __init__(s):
        super().__init__()
        for side in ('img', 'txt'):
            setattr(s, f'{side}_mod', nn.Linear(H, 6 * H))
            setattr(s, f'{side}_qkv', nn.Linear(H, 3 * H))
            setattr(s, f'{side}_qn', RMS()); setattr(s, f'{side}_kn', RMS())
            setattr(s, f'{side}_proj', nn.Linear(H, H))
            setattr(s, f'{side}_mlp', nn.Sequential(nn.Linear(H, MLP), nn.GELU(approximate='tanh'), nn.Linear(MLP, H)))

    def forward(s, img, txt, vec, pe):
        parts = {}
        for side, x in (('img', img), ('txt', txt)):
            m = getattr(s, f'{side}_mod')(F.silu(vec))[:, None, :].chunk(6, dim=-1)
            q, k, v = heads(getattr(s, f'{side}_qkv')((1 + m[1]) * ln(x) + m[0]))
            parts[side] = (m, getattr(s, f'{side}_qn')(q), getattr(s, f'{side}_kn')(k), v)
        q = torch.cat((parts['txt'][1], parts['img'][1]), 2)
        k = torch.cat((parts['txt'][2], parts['img'][2]), 2)
        v = torch.cat((parts['txt'][3], parts['img'][3]), 2)
        att = attention(q, k, v, pe)
        T = txt.shape[1]
        out = {}
        for side, x, a_ in (('txt', txt, att[:, :T]), ('img', img, att[:, T:])):
            m = parts[side][0]
            x = x + m[2] * getattr(s, f'{side}_proj')(a_)
            out[side] = x + m[5] * getattr(s, f'{side}_mlp')((1 + m[4]) * ln(x) + m[3])
        return out['img'], out['txt']


class Single(nn.Module):
    def __init__(s):
        super().__init__()
        s.mod = nn.Linear(H, 3 * H); s.linear1 = nn.Linear(H, 3 * H + MLP); s.linear2 = nn.Linear(H + MLP, H)
        s.qn, s.kn = RMS(), RMS()

    def forward(s, x, vec, pe):
        shift, scale, gate = s.mod(F.silu(vec))[:, None, :].chunk(3, dim=-1)
        qkv, mlp = torch.split(s.linear1((1 + scale) * ln(x) + shift), [3 * H, MLP], dim=-1)
        q, k, v = heads(qkv)
        att = attention(s.qn(q), s.kn(k), v, pe)
        return x + gate * s.linear2(torch.cat((att, F.gelu(mlp, approximate='tanh')), 2))


def timestep_embedding(t, dim=256, max_period=10000, time_factor=1000.0):
    t = time_factor * t
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t[:, None].float() * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class Flux(nn.Module):
    def __init__(s):
        super().__init__()
        s.img_in = nn.Linear(64, H); s.txt_in = nn.Linear(4096, H)
        s.time_in = nn.Sequential(nn.Linear(256, H), nn.SiLU(), nn.Linear(H, H))
        s.vector_in = nn.Sequential(nn.Linear(768, H), nn.SiLU(), nn.Linear(H, H))
        s.double = nn.ModuleList([Double() for _ in range(a.double)])
        s.single = nn.ModuleList([Single() for _ in range(a.single)])
        s.final_mod = nn.Linear(H, 2 * H); s.final = nn.Linear(H, 64)

    def forward(s, img, img_ids, txt, txt_ids, t, y, parts=('double', 'single')):
        img, txt = s.img_in(img), s.txt_in(txt)
        vec = s.time_in(timestep_embedding(t).to(img.dtype)) + s.vector_in(y)
        pe = embed_nd(torch.cat((txt_ids, img_ids), 1))
        if 'double' in parts:
            for b in s.double:
                img, txt = b(img, txt, vec, pe)
        x = torch.cat((txt, img), 1)
        if 'single' in parts:
            for b in s.single:
                x = b(x, vec, pe)
        x = x[:, txt.shape[1]:]
        shift, scale = s.final_mod(F.silu(vec)).chunk(2, dim=1)
        return s.final((1 + scale[:, None]) * ln(x) + shift[:, None])


def sync():
    if dev == 'cuda':
        torch.cuda.synchronize()


def timed(fn, runs):
    fn(); fn(); sync()
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter(); fn(); sync(); ts.append((time.perf_counter() - t0) * 1000)
    return statistics.median(ts), ts


torch.manual_seed(0)
with torch.device(dev):
    model = Flux().to(dt).eval()
side = a.size // 16
N, L = side * side, a.text
ids = torch.zeros(side, side, 3, device=dev)
ids[..., 1] = torch.arange(side, device=dev)[:, None]
ids[..., 2] = torch.arange(side, device=dev)[None, :]
inp = dict(img=torch.randn(1, N, 64, device=dev, dtype=dt), img_ids=ids.reshape(1, N, 3), txt=torch.randn(1, L, 4096, device=dev, dtype=dt),
           txt_ids=torch.zeros(1, L, 3, device=dev), t=torch.tensor([0.75], device=dev), y=torch.randn(1, 768, device=dev, dtype=dt))
with torch.inference_mode():
    step, steps = timed(lambda: model(**inp), a.runs)
    no_double, _ = timed(lambda: model(**inp, parts=('single',)), a.runs)
    no_single, _ = timed(lambda: model(**inp, parts=('double',)), a.runs)
report = {
    'framework': f'torch {torch.__version__}', 'device': torch.cuda.get_device_name(0) if dev == 'cuda' else 'cpu', 'dtype': a.dtype,
    'config': {'hidden': H, 'heads': NH, 'double': a.double, 'single': a.single, 'imageTokens': N, 'textTokens': L, 'axes': AXES},
    'stepMs': step, 'stepsMs': steps, 'withoutDoubleMs': no_double, 'withoutSingleMs': no_single,
    'doubleMs': (step - no_double) / a.double if a.double else None, 'singleMs': (step - no_single) / a.single if a.single else None,
    'how': 'eager, inference_mode, median of runs after two warm-ups; block time = (step - step without that kind) / count',
    'peakAllocatedMiB': torch.cuda.max_memory_allocated() / 2**20 if dev == 'cuda' else None,
}
print(json.dumps(report))
if a.json:
    with open(a.json, 'w') as f:
        json.dump(report, f, indent=2)
