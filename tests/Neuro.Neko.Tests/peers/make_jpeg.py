"""Writes a baseline JPEG of a deterministic colour pattern to stdout, via FFmpeg's mjpeg encoder (PyAV).

usage: make_jpeg.py WIDTH HEIGHT PIX_FMT QSCALE   (PIX_FMT yuvj420p | yuvj422p | yuvj444p; QSCALE 1 = best)
Pixel (x, y) = (x*255/(w-1), y*255/(h-1), (x+y)*4 % 256 smoothed): JpegDecoderTests computes the same image.
Run with /usr/bin/python3.
"""
import fractions
import sys

import av
import numpy as np

w, h, pix_fmt, q = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
rgb = np.zeros((h, w, 3), dtype=np.uint8)
for y in range(h):
    for x in range(w):
        rgb[y, x] = (x * 255 // (w - 1), y * 255 // (h - 1), 128 + (64 if (x // 16 + y // 16) % 2 else -64))
codec = av.CodecContext.create("mjpeg", "w")
codec.width, codec.height, codec.pix_fmt = w, h, pix_fmt
codec.time_base = fractions.Fraction(1, 30)
codec.options = {"qmin": str(q), "qmax": str(q)}
frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=pix_fmt)
data = b"".join(bytes(p) for p in codec.encode(frame)) + b"".join(bytes(p) for p in codec.encode(None))
sys.stdout.buffer.write(data)
