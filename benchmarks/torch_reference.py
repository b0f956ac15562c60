"""The reference generators in PyTorch, timed per image on this machine for a same-conditions
comparison with `spade.py` and `pix2pixhd.py` (needs the `torch` extra).

    python benchmarks/torch_reference.py [--model pix2pixhd spade] [--ngf 32] [--images 15]

The networks follow the reference repositories' definitions at the benchmarks' settings
(256x128, batch 1, 35 labels + instance edges, random weights, evaluation mode):
pix2pixHD's `GlobalGenerator` (ngf 64, 4 downsamplings, 9 residual blocks, instance norm) and
SPADE's `SPADEGenerator` (`cityscapes`: `more` upsampling layers, spectral norm on every block
convolution, SPADE with batch norm and 128 hidden channels). Prints the median seconds per
image over `--images` calls after two warm-up calls, with `torch.set_num_threads(os.cpu_count())`.
"""

import argparse
import os
import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils import spectral_norm

SEMANTIC_NC = 36  # 35 Cityscapes labels + the instance edge map
HEIGHT, WIDTH = 128, 256


def pix2pixhd_global_generator(ngf=64, n_downsampling=4, n_blocks=9):
    """pix2pixHD's `GlobalGenerator` with `InstanceNorm2d(affine=False)`."""

    def norm(channels):
        return nn.InstanceNorm2d(channels, affine=False)

    class ResnetBlock(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.conv_block = nn.Sequential(
                nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), norm(dim), nn.ReLU(True),
                nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), norm(dim))

        def forward(self, x):
            return x + self.conv_block(x)

    layers = [nn.ReflectionPad2d(3), nn.Conv2d(SEMANTIC_NC, ngf, 7), norm(ngf), nn.ReLU(True)]
    for i in range(n_downsampling):
        width = ngf * 2**i
        layers += [nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), norm(2 * width),
                   nn.ReLU(True)]
    layers += [ResnetBlock(ngf * 2**n_downsampling) for _ in range(n_blocks)]
    for i in range(n_downsampling):
        width = ngf * 2 ** (n_downsampling - i)
        layers += [nn.ConvTranspose2d(width, width // 2, 3, stride=2, padding=1,
                                      output_padding=1), norm(width // 2), nn.ReLU(True)]
    layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7), nn.Tanh()]
    return nn.Sequential(*layers)


class SPADE(nn.Module):
    def __init__(self, norm_nc, hidden=128):
        super().__init__()
        self.param_free_norm = nn.BatchNorm2d(norm_nc, affine=False)
        self.mlp_shared = nn.Sequential(nn.Conv2d(SEMANTIC_NC, hidden, 3, padding=1), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(hidden, norm_nc, 3, padding=1)
        self.mlp_beta = nn.Conv2d(hidden, norm_nc, 3, padding=1)

    def forward(self, x, segmap):
        segmap = F.interpolate(segmap, size=x.size()[2:], mode="nearest")
        actv = self.mlp_shared(segmap)
        return self.param_free_norm(x) * (1 + self.mlp_gamma(actv)) + self.mlp_beta(actv)


class SPADEResnetBlock(nn.Module):
    def __init__(self, fin, fout):
        super().__init__()
        middle = min(fin, fout)
        self.learned_shortcut = fin != fout
        self.conv_0 = spectral_norm(nn.Conv2d(fin, middle, 3, padding=1))
        self.conv_1 = spectral_norm(nn.Conv2d(middle, fout, 3, padding=1))
        self.norm_0, self.norm_1 = SPADE(fin), SPADE(middle)
        if self.learned_shortcut:
            self.conv_s = spectral_norm(nn.Conv2d(fin, fout, 1, bias=False))
            self.norm_s = SPADE(fin)

    def forward(self, x, seg):
        x_s = self.conv_s(self.norm_s(x, seg)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, seg), 2e-1))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, seg), 2e-1))
        return x_s + dx


class SPADEGenerator(nn.Module):
    """SPADE's `SPADEGenerator` with `num_upsampling_layers="more"`, without the VAE."""

    def __init__(self, ngf=32):
        super().__init__()
        top = 16 * ngf
        self.fc = nn.Conv2d(SEMANTIC_NC, top, 3, padding=1)
        self.head_0 = SPADEResnetBlock(top, top)
        self.G_middle_0 = SPADEResnetBlock(top, top)
        self.G_middle_1 = SPADEResnetBlock(top, top)
        self.ups = nn.ModuleList(SPADEResnetBlock(top // 2**i, top // 2 ** (i + 1))
                                 for i in range(4))
        self.conv_img = nn.Conv2d(ngf, 3, 3, padding=1)

    def forward(self, seg):
        up = nn.Upsample(scale_factor=2)
        x = self.fc(F.interpolate(seg, size=(HEIGHT // 64, WIDTH // 64)))
        x = up(self.head_0(x, seg))
        x = up(self.G_middle_0(x, seg))
        x = self.G_middle_1(x, seg)
        for block in self.ups:
            x = block(up(x), seg)
        return torch.tanh(self.conv_img(F.leaky_relu(x, 2e-1)))


def semantic_input(seed=0):
    """One-hot labels (uniform random ids) and a random binary edge channel, (1, 36, H, W)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, SEMANTIC_NC - 1, (HEIGHT, WIDTH))
    one_hot = np.eye(SEMANTIC_NC - 1, dtype="float32")[labels].transpose(2, 0, 1)
    edges = (rng.uniform(size=(1, HEIGHT, WIDTH)) < 0.1).astype("float32")
    return torch.from_numpy(np.concatenate([one_hot, edges])[None])


def seconds_per_image(network, images):
    x = semantic_input()
    network.eval()
    with torch.no_grad():
        for _ in range(2):
            network(x)
        times = []
        for _ in range(images):
            start = time.perf_counter()
            network(x)
            times.append(time.perf_counter() - start)
    return float(np.median(times))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", nargs="+", choices=["pix2pixhd", "spade"],
                        default=["pix2pixhd", "spade"])
    parser.add_argument("--ngf", type=int, nargs="+", default=[32, 64], help="SPADE's widths")
    parser.add_argument("--images", type=int, default=15)
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count())
    torch.manual_seed(0)
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads, {HEIGHT}x{WIDTH}")
    if "pix2pixhd" in args.model:
        seconds = seconds_per_image(pix2pixhd_global_generator(), args.images)
        print(f"pix2pixHD GlobalGenerator: {seconds:.3f} s/image")
    for ngf in args.ngf if "spade" in args.model else []:
        print(f"SPADE ngf {ngf}: {seconds_per_image(SPADEGenerator(ngf), args.images):.3f} s/image")


if __name__ == "__main__":
    main()
