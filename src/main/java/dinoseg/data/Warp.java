package dinoseg.data;

import boofcv.alg.interpolate.InterpolatePixelS;
import boofcv.factory.interpolate.FactoryInterpolation;
import boofcv.struct.border.BorderType;
import boofcv.struct.image.GrayF32;
import boofcv.struct.image.Planar;

/**
 * An affine map from output pixel coordinates to input pixel coordinates (pixel centres at integer
 * coordinates): {@code xIn = a*x + b*y + c, yIn = d*x + e*y + f}. One warp moves an image (bilinear,
 * through BoofCV's interpolation) and its mask (nearest neighbour) with the same geometry, so the two
 * stay aligned; output pixels that map outside the input are black in the image and ignored in the mask.
 */
public record Warp(double a, double b, double c, double d, double e, double f) {

    /** Resize inW x inH to outW x outH, pixel-centre aligned (PyTorch's align_corners=False). */
    public static Warp resize(int inW, int inH, int outW, int outH) {
        double sx = (double) inW / outW, sy = (double) inH / outH;
        return new Warp(sx, 0, 0.5 * sx - 0.5, 0, sy, 0.5 * sy - 0.5);
    }

    /** Horizontal flip of a {@code width}-wide image. */
    public static Warp flipX(int width) {
        return new Warp(-1, 0, width - 1, 0, 1, 0);
    }

    /** Translation: output (x, y) reads input (x + dx, y + dy) (a crop at dx, dy). */
    public static Warp shift(double dx, double dy) {
        return new Warp(1, 0, dx, 0, 1, dy);
    }

    /** Rotation by {@code degrees} about the centre of a width x height image. */
    public static Warp rotate(double degrees, int width, int height) {
        double t = Math.toRadians(degrees), cos = Math.cos(t), sin = Math.sin(t);
        double cx = (width - 1) / 2.0, cy = (height - 1) / 2.0;
        // in = R(-t) (out - c) + c
        return new Warp(cos, sin, cx - cos * cx - sin * cy, -sin, cos, cy + sin * cx - cos * cy);
    }

    /**
     * Chains a later stage after this one: {@code this} maps stage-1 output to the input, {@code later}
     * maps the final output to stage-1 output; the result maps the final output to the input.
     */
    public Warp then(Warp later) {
        return new Warp(a * later.a + b * later.d, a * later.b + b * later.e, a * later.c + b * later.f + c,
                d * later.a + e * later.d, d * later.b + e * later.e, d * later.c + e * later.f + f);
    }

    /** Input x of output pixel (x, y). */
    public double mapX(double x, double y) { return a * x + b * y + c; }

    /** Input y of output pixel (x, y). */
    public double mapY(double x, double y) { return d * x + e * y + f; }

    /**
     * Warps a planar image bilinearly (BoofCV's bilinear interpolation, edge pixels extended) into an
     * outW x outH image (reused when {@code out} has that size and band count). Output pixels whose
     * source lies outside the input are set to 0.
     */
    public Planar<GrayF32> applyImage(Planar<GrayF32> in, int outW, int outH, Planar<GrayF32> out) {
        int bands = in.getNumBands();
        if (out == null || out.width != outW || out.height != outH || out.getNumBands() != bands)
            out = new Planar<>(GrayF32.class, outW, outH, bands);
        @SuppressWarnings("unchecked")
        InterpolatePixelS<GrayF32>[] interp = new InterpolatePixelS[bands];
        GrayF32[] dst = new GrayF32[bands];
        for (int k = 0; k < bands; k++) {
            interp[k] = FactoryInterpolation.bilinearPixelS(GrayF32.class, BorderType.EXTENDED);
            interp[k].setImage(in.getBand(k));
            dst[k] = out.getBand(k);
        }
        int inW = in.width, inH = in.height;
        // one coordinate per output pixel for all bands; the fast path away from the input's edges
        for (int y = 0; y < outH; y++) {
            double rowX = b * y + c, rowY = e * y + f;
            for (int x = 0; x < outW; x++) {
                double dx = a * x + rowX, dy = d * x + rowY; // the same arithmetic as applyLabels and outside()
                float xi = (float) dx, yi = (float) dy;
                if (dx < -0.5 || dy < -0.5 || dx >= inW - 0.5 || dy >= inH - 0.5) {
                    for (int k = 0; k < bands; k++) dst[k].data[dst[k].startIndex + y * dst[k].stride + x] = 0f;
                } else if (xi >= 0 && yi >= 0 && xi < inW - 1 && yi < inH - 1) {
                    for (int k = 0; k < bands; k++) dst[k].data[dst[k].startIndex + y * dst[k].stride + x] = interp[k].get_fast(xi, yi);
                } else {
                    for (int k = 0; k < bands; k++) dst[k].data[dst[k].startIndex + y * dst[k].stride + x] = interp[k].get(xi, yi);
                }
            }
        }
        return out;
    }

    /** Sets to 0 the pixels of a warped image whose source lies outside the inW x inH input. */
    public void zeroOutside(Planar<GrayF32> out, int inW, int inH) {
        int outW = out.width, outH = out.height;
        if (coversOutput(inW, inH, outW, outH)) return;
        for (int y = 0; y < outH; y++)
            for (int x = 0; x < outW; x++)
                if (outside(x, y, inW, inH))
                    for (int band = 0; band < out.getNumBands(); band++) out.getBand(band).unsafe_set(x, y, 0f);
    }

    /**
     * Warps a label map nearest-neighbour into {@code out[offset .. offset+outW*outH)}; pixels whose
     * source lies outside the input get {@code fill}.
     */
    public void applyLabels(int[] in, int inW, int inH, int[] out, int offset, int outW, int outH, int fill) {
        if (in.length != inW * inH) throw new IllegalArgumentException("Warp.applyLabels: " + in.length + " labels for " + inW + "x" + inH);
        for (int y = 0; y < outH; y++) {
            double sx = b * y + c, sy = e * y + f;
            int row = offset + y * outW;
            for (int x = 0; x < outW; x++) {
                double xi = a * x + sx, yi = d * x + sy;
                int ix = (int) Math.floor(xi + 0.5), iy = (int) Math.floor(yi + 0.5);
                out[row + x] = (ix < 0 || iy < 0 || ix >= inW || iy >= inH) ? fill : in[iy * inW + ix];
            }
        }
    }

    /** Whether output pixel (x, y) maps outside an inW x inH input (beyond half a pixel). */
    public boolean outside(int x, int y, int inW, int inH) {
        double xi = a * x + (b * y + c), yi = d * x + (e * y + f);
        return xi < -0.5 || yi < -0.5 || xi >= inW - 0.5 || yi >= inH - 0.5;
    }

    /** True when all four output corners map inside the input, so no output pixel is uncovered. */
    boolean coversOutput(int inW, int inH, int outW, int outH) {
        return !outside(0, 0, inW, inH) && !outside(outW - 1, 0, inW, inH)
                && !outside(0, outH - 1, inW, inH) && !outside(outW - 1, outH - 1, inW, inH);
    }
}
