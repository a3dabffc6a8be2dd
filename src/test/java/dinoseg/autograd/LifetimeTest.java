package dinoseg.autograd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;

import dinoseg.backend.Backend;
import dinoseg.backend.Backends;
import dinoseg.nn.Parameter;
import dinoseg.ref.DTensor;
import dinoseg.tensor.Shape;
import dinoseg.tensor.Tensor;

/** Who frees a tensor and when: releases, saved tensors, backward, the scope's close, use after free. */
class LifetimeTest {
    private final Backend be = Backends.cpu();
    private final SplittableRandom rng = new SplittableRandom(11);

    private Parameter param(int... shape) { return new Parameter(be.fromFloats(DTensor.random(rng, shape).toFloats(), Shape.of(shape))); }

    private static boolean freed(Var v) { return v.value().storage().isClosed(); }

    @Test
    @SuppressWarnings("try")
    void withoutATapeAReleasedValueIsFreedAtOnce() {
        Parameter w = param(5, 4), b = param(5);
        try (Ops ops = new Ops(be); var s = ops.noGrad()) {
            Var x = ops.constant(be.fromFloats(DTensor.random(rng, 3, 4).toFloats(), Shape.of(3, 4)));
            Var h = ops.linear(x, w, b);
            ops.release(x);
            assertTrue(freed(x));
            Var y = ops.gelu(h);
            Var view = ops.reshape(h, 15);
            ops.release(h);
            assertFalse(freed(h), "a reshape view still holds h's storage");
            ops.release(view);
            assertTrue(freed(h));
            assertFalse(freed(w), "parameters belong to their module, not to the scope");
            ops.release(w);
            assertFalse(freed(w));
            assertEquals(1, ops.tape.ownedCount(), "only y is left");
            assertFalse(freed(y));
        }
    }

    @Test
    void aSavedValueLivesUntilTheBackwardThatReadsItThenEverythingButTheHeldIsFreed() {
        Parameter w = param(5, 4), b = param(5), g = param(5);
        Ops ops = new Ops(be);
        Var x = ops.constant(be.fromFloats(DTensor.random(rng, 3, 4).toFloats(), Shape.of(3, 4)));
        Var h = ops.linear(x, w, b);          // linear saves x for w's gradient
        Var a = ops.gelu(h);                  // gelu saves h
        Var m = ops.mul(a, g);                // mul saves a (for g's gradient) and reads g
        Var s = ops.add(m, b);                // add saves nothing
        Var loss = ops.sum(s);
        ops.release(x, h, a, m, s);
        assertTrue(freed(s), "add's output is read by no backward: freed as soon as released");
        assertTrue(freed(m), "mul's output is read by no backward");
        assertFalse(freed(x));
        assertFalse(freed(h));
        assertFalse(freed(a));
        ops.backward(loss);
        assertTrue(freed(x) && freed(h) && freed(a), "saved values are freed once their backward ran");
        assertEquals(1, ops.tape.ownedCount(), "only the loss, still held, is owned after backward");
        assertEquals(4, ops.tape.ownedBytes());
        assertTrue(w.grad() != null && g.grad() != null);
        ops.close();
        assertTrue(freed(loss));
        Tensor gw = w.grad();
        w.zeroGrad();
        assertTrue(gw.storage().isClosed(), "zeroGrad frees the gradient");
    }

    @Test
    void aFreedTensorFailsLoudlyNamingTheOp() {
        Ops ops = new Ops(be);
        Parameter p = param(2, 3);
        Var y = ops.scale(p, 2f);
        ops.release(y);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> ops.gelu(y));
        assertTrue(e.getMessage().startsWith("gelu: "), e.getMessage());
        assertTrue(e.getMessage().contains("freed"), e.getMessage());
        ops.close();
        assertThrows(IllegalStateException.class, () -> ops.scale(p, 2f), "a closed scope makes nothing");
    }

    @Test
    void aViewOfAParameterNeverFreesIt() {
        Parameter p = param(4, 6);
        try (Ops ops = new Ops(be)) {
            Var v = ops.reshape(p, 24);
            ops.release(v);
            assertFalse(freed(p));
            Var w = ops.reshape(p, 6, 4);
            assertEquals(0, ops.tape.ownedCount());
            assertFalse(freed(w));
        }
        assertFalse(freed(p), "closing the scope leaves the parameter alone");
        assertEquals(24, be.toFloats(p.value()).length);
    }

    @Test
    void closeFreesAllButWhatWasKept() {
        Parameter p = param(4, 4);
        Var kept, dropped;
        try (Ops ops = new Ops(be)) {
            kept = ops.keep(ops.scale(p, 3f));
            dropped = ops.scale(p, 2f);
        }
        assertTrue(freed(dropped));
        assertFalse(freed(kept));
        assertEquals(3f * be.toFloats(p.value())[5], be.toFloats(kept.value())[5]);
    }

    @Test
    void clearingAnUnusedTapeFreesWhatOnlyItsNodesHeld() {
        Parameter w = param(5, 4);
        Ops ops = new Ops(be);
        Var x = ops.constant(be.fromFloats(DTensor.random(rng, 3, 4).toFloats(), Shape.of(3, 4)));
        Var h = ops.linear(x, w, null);
        Var n = ops.layerNorm(h, param(5), param(5), 1e-6f);   // saves h and its own mean and rstd
        ops.release(x, h);
        assertFalse(freed(h));
        ops.tape.clear();
        assertTrue(freed(h) && freed(x));
        assertEquals(1, ops.tape.ownedCount(), "n, still held");
        assertFalse(freed(n));
    }

    @Test
    void geluLinearMatchesGeluThenLinearInValuesAndGradients() {
        Parameter h1 = param(2, 3, 6), w1 = param(4, 6), b1 = param(4);
        Parameter h2 = new Parameter(be.fromFloats(be.toFloats(h1.value()), h1.shape()));
        Parameter w2 = new Parameter(be.fromFloats(be.toFloats(w1.value()), w1.shape()));
        Parameter b2 = new Parameter(be.fromFloats(be.toFloats(b1.value()), b1.shape()));
        Tensor r = be.fromFloats(DTensor.random(rng, 2, 3, 4).toFloats(), Shape.of(2, 3, 4));
        float[] y1, y2;
        try (Ops ops = new Ops(be)) {
            Var y = ops.geluLinear(h1, w1, b1);
            y1 = be.toFloats(y.value());
            ops.backward(ops.sum(ops.mul(y, Var.constant(r))));
        }
        try (Ops ops = new Ops(be)) {
            Var y = ops.linear(ops.gelu(h2), w2, b2);
            y2 = be.toFloats(y.value());
            ops.backward(ops.sum(ops.mul(y, Var.constant(r))));
        }
        assertArrayEquals(y2, y1, 1e-6f);
        assertArrayEquals(be.toFloats(h2.grad()), be.toFloats(h1.grad()), 1e-6f);
        assertArrayEquals(be.toFloats(w2.grad()), be.toFloats(w1.grad()), 1e-6f);
        assertArrayEquals(be.toFloats(b2.grad()), be.toFloats(b1.grad()), 1e-6f);
    }

    private Parameter copy(Parameter p) { return new Parameter(be.fromFloats(be.toFloats(p.value()), p.shape())); }

    /** Runs f on the fused and on the unfused side with loss sum(y * r) and checks values and every gradient. */
    private void sameAsUnfused(java.util.function.BiFunction<Ops, Parameter[], Var> fused, java.util.function.BiFunction<Ops, Parameter[], Var> plain,
                               Parameter[] ps, float tol) {
        Parameter[] qs = new Parameter[ps.length];
        for (int i = 0; i < ps.length; i++) qs[i] = copy(ps[i]);
        float[] y1, y2;
        try (Ops ops = new Ops(be)) {
            Var y = fused.apply(ops, ps);
            y1 = be.toFloats(y.value());
            Tensor r = be.fromFloats(DTensor.random(new SplittableRandom(3), y.shape().dims()).toFloats(), y.shape());
            ops.backward(ops.sum(ops.mul(y, Var.constant(r))));
        }
        try (Ops ops = new Ops(be)) {
            Var y = plain.apply(ops, qs);
            y2 = be.toFloats(y.value());
            Tensor r = be.fromFloats(DTensor.random(new SplittableRandom(3), y.shape().dims()).toFloats(), y.shape());
            ops.backward(ops.sum(ops.mul(y, Var.constant(r))));
        }
        assertArrayEquals(y2, y1, tol);
        for (int i = 0; i < ps.length; i++) {
            float[] a = be.toFloats(qs[i].grad()), b = be.toFloats(ps[i].grad());
            for (int j = 0; j < a.length; j++)
                assertEquals(a[j], b[j], tol * (1 + Math.abs(a[j])), "gradient of operand " + i + " at " + j);
        }
    }

    @Test
    void linearScaledMatchesLinearThenLayerScale() {
        Parameter[] ps = {param(2, 3, 6), param(4, 6), param(4), param(4)};
        sameAsUnfused((ops, p) -> ops.linearScaled(p[0], p[1], p[2], p[3]),
                (ops, p) -> ops.mul(ops.linear(p[0], p[1], p[2]), p[3]), ps, 2e-5f);
        Parameter[] noBias = {param(5, 6), param(3, 6), param(3)};
        sameAsUnfused((ops, p) -> ops.linearScaled(p[0], p[1], null, p[2]),
                (ops, p) -> ops.mul(ops.linear(p[0], p[1], null), p[2]), noBias, 2e-5f);
    }

    @Test
    void geluLinearWithLayerScaleMatchesTheThreeOps() {
        Parameter[] ps = {param(2, 3, 6), param(4, 6), param(4), param(4)};
        sameAsUnfused((ops, p) -> ops.geluLinear(p[0], p[1], p[2], p[3]),
                (ops, p) -> ops.mul(ops.linear(ops.gelu(p[0]), p[1], p[2]), p[3]), ps, 2e-5f);
    }

    @Test
    void residualInTheLayerScalePassMatchesTheSeparateAdd() {
        // residual + LayerScale(linear): one addcmul pass; values bit for bit, gradients equal
        Parameter[] ps = {param(2, 3, 6), param(4, 6), param(4), param(4), param(2, 3, 4)};
        sameAsUnfused((ops, p) -> ops.linearScaled(p[0], p[1], p[2], p[3], p[4]),
                (ops, p) -> ops.add(p[4], ops.mul(ops.linear(p[0], p[1], p[2]), p[3])), ps, 2e-5f);
        try (Ops ops = new Ops(be)) {   // the forward: the same bits as mul then add (the product is rounded first)
            assertArrayEquals(be.toFloats(ops.add(ps[4], ops.mul(ops.linear(ps[0], ps[1], ps[2]), ps[3])).value()),
                    be.toFloats(ops.linearScaled(ps[0], ps[1], ps[2], ps[3], ps[4]).value()));
        }
        Parameter[] noScale = {param(2, 3, 6), param(4, 6), param(4), param(2, 3, 4)};
        sameAsUnfused((ops, p) -> ops.linearScaled(p[0], p[1], p[2], null, p[3]),
                (ops, p) -> ops.add(p[3], ops.linear(p[0], p[1], p[2])), noScale, 2e-5f);
        Parameter[] gelu = {param(2, 3, 6), param(4, 6), param(4), param(4), param(2, 3, 4)};
        sameAsUnfused((ops, p) -> ops.geluLinear(p[0], p[1], p[2], p[3], p[4]),
                (ops, p) -> ops.add(p[4], ops.mul(ops.linear(ops.gelu(p[0]), p[1], p[2]), p[3])), gelu, 2e-5f);
        // the residual is also the Linear's input (a block's x): both gradient paths add up
        Parameter[] same = {param(2, 3, 6), param(6, 6), param(6), param(6)};
        sameAsUnfused((ops, p) -> ops.linearScaled(p[0], p[1], p[2], p[3], p[0]),
                (ops, p) -> ops.add(p[0], ops.mul(ops.linear(p[0], p[1], p[2]), p[3])), same, 2e-5f);
    }

    @Test
    void layerNormLinearMatchesLayerNormThenLinear() {
        Parameter[] ps = {param(2, 3, 6), param(6), param(6), param(5, 6), param(5)};
        sameAsUnfused((ops, p) -> ops.layerNormLinear(p[0], p[1], p[2], 1e-6f, p[3], p[4]),
                (ops, p) -> ops.linear(ops.layerNorm(p[0], p[1], p[2], 1e-6f), p[3], p[4]), ps, 2e-5f);
    }

    @Test
    void fc1WithItsGeluThenGeluLinearMatchesTheSeparateOps() {
        // a DINOv2 MLP: layerNormLinearGelu makes h and gelu(h) (Backend.linearGelu), geluLinear takes gelu(h)
        Parameter[] ps = {param(2, 3, 6), param(6), param(6), param(8, 6), param(8), param(6, 8), param(6), param(6), param(2, 3, 6)};
        sameAsUnfused((ops, p) -> ops.geluLinear(ops.layerNormLinearGelu(p[0], p[1], p[2], 1e-6f, p[3], p[4]), p[5], p[6], p[7], p[8]),
                (ops, p) -> ops.add(p[8], ops.mul(ops.linear(ops.gelu(ops.linear(ops.layerNorm(p[0], p[1], p[2], 1e-6f), p[3], p[4])), p[5], p[6]), p[7])),
                ps, 2e-5f);
    }

    @Test
    @SuppressWarnings("try")
    void theHeldGeluIsFreedByGeluLinearOrWithItsH() {
        dinoseg.backend.meta.MetaBackend meta = new dinoseg.backend.meta.MetaBackend();
        Parameter x = new Parameter(meta.empty(Shape.of(4, 16))), g = new Parameter(meta.empty(Shape.of(16))), b = new Parameter(meta.empty(Shape.of(16)));
        Parameter w1 = new Parameter(meta.empty(Shape.of(64, 16))), b1 = new Parameter(meta.empty(Shape.of(64)));
        Parameter w2 = new Parameter(meta.empty(Shape.of(16, 64))), b2 = new Parameter(meta.empty(Shape.of(16)));
        long base = meta.liveBytes(), token = 4 * 64 * 4;
        try (Ops ops = new Ops(meta); var s = ops.noGrad()) {
            Var h = ops.layerNormLinearGelu(x, g, b, 1e-6f, w1, b1);
            assertEquals(base + 2 * token, meta.liveBytes(), "h and gelu(h)");
            ops.release(h);
            assertEquals(base, meta.liveBytes(), "releasing h frees the gelu(h) it held");
            h = ops.layerNormLinearGelu(x, g, b, 1e-6f, w1, b1);
            Var y = ops.geluLinear(h, w2, b2);
            ops.release(h);
            assertEquals(base + 4 * 16 * 4, meta.liveBytes(), "geluLinear took gelu(h): only y is left");
            ops.release(y);
            ops.layerNormLinearGelu(x, g, b, 1e-6f, w1, b1);   // never released: the scope frees both
        }
        assertEquals(base, meta.liveBytes());
    }
}
