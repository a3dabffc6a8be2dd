package dinoseg.autograd;

import dinoseg.backend.Backend;
import dinoseg.backend.Backends;
import dinoseg.nn.Parameter;
import dinoseg.ref.DTensor;
import dinoseg.tensor.Shape;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TapeTest {
    private final Backend be = Backends.cpu();
    private final SplittableRandom rng = new SplittableRandom(5);

    private Parameter param(int... shape) {
        return new Parameter(be.fromFloats(DTensor.random(rng, shape).toFloats(), Shape.of(shape)));
    }

    private Var input(int... shape) { return Var.constant(be.fromFloats(DTensor.random(rng, shape).toFloats(), Shape.of(shape))); }

    /** A small graph: mean(gelu(linear(x)) * scale), touching several op kinds. */
    private Var forward(Ops ops, Var x, Parameter w, Parameter b, Parameter g) {
        return ops.mean(ops.mul(ops.gelu(ops.linear(x, w, b)), g));
    }

    @Test
    @SuppressWarnings("try") // the scopes are used only for their open/close effect
    void noGradScopeRecordsNothingAndGivesNoGrads() {
        Ops ops = new Ops(be);
        Parameter w = param(4, 3), b = param(4), g = param(4);
        Var loss;
        try (Tape.Scope s = ops.noGrad()) {
            assertFalse(ops.tape.recording());
            try (Tape.Scope inner = ops.noGrad()) {
                assertFalse(ops.tape.recording());
            }
            assertFalse(ops.tape.recording(), "closing a nested scope must not end the outer one");
            loss = forward(ops, input(2, 3), w, b, g);
        }
        assertTrue(ops.tape.recording());
        assertEquals(0, ops.tape.size());
        assertFalse(loss.requiresGrad());
        Var l = loss;
        assertThrows(IllegalStateException.class, () -> ops.backward(l));
        assertNull(w.grad());
        assertNull(b.grad());
        assertNull(g.grad());
    }

    @Test
    void frozenParametersGetNoGradAndNoNodes() {
        Ops ops = new Ops(be);
        Parameter w = param(4, 3), b = param(4), g = param(4);
        w.setRequiresGrad(false);
        b.setRequiresGrad(false);
        g.setRequiresGrad(false);
        Var loss = forward(ops, input(2, 3), w, b, g);
        assertEquals(0, ops.tape.size(), "nothing requires a gradient: no node may be recorded");
        assertFalse(loss.requiresGrad());

        // unfreeze only the last factor: the frozen linear records nothing, the rest does
        g.setRequiresGrad(true);
        Var y = ops.linear(input(2, 3), w, b);
        assertEquals(0, ops.tape.size());
        Var l2 = ops.mean(ops.mul(ops.gelu(y), g));
        assertTrue(ops.tape.size() > 0);
        ops.backward(l2);
        assertNull(w.grad());
        assertNull(b.grad());
        assertNotNull(g.grad());
    }

    @Test
    void tapeIsEmptyAfterBackward() {
        Ops ops = new Ops(be);
        Parameter w = param(4, 3), b = param(4), g = param(4);
        Var loss = forward(ops, input(2, 3), w, b, g);
        assertTrue(ops.tape.size() >= 4);
        ops.backward(loss);
        assertEquals(0, ops.tape.size());
        assertNotNull(w.grad());
        // a second forward starts from an empty tape and works again
        Var again = forward(ops, input(2, 3), w, b, g);
        ops.backward(again);
        assertEquals(0, ops.tape.size());
    }

    @Test
    void gradientsAccumulateOverTwoBackwards() {
        Parameter w = param(4, 3), b = param(4), g = param(4);
        Var x = input(2, 3);
        Ops ops = new Ops(be);
        ops.backward(forward(ops, x, w, b, g));
        float[] once = be.toFloats(w.grad()), onceB = be.toFloats(b.grad()), onceG = be.toFloats(g.grad());
        ops.backward(forward(ops, x, w, b, g));
        float[] twice = be.toFloats(w.grad()), twiceB = be.toFloats(b.grad()), twiceG = be.toFloats(g.grad());
        for (int i = 0; i < once.length; i++) assertEquals(2 * once[i], twice[i], 1e-6 * (1 + Math.abs(once[i])), "w " + i);
        for (int i = 0; i < onceB.length; i++) assertEquals(2 * onceB[i], twiceB[i], 1e-6 * (1 + Math.abs(onceB[i])), "b " + i);
        for (int i = 0; i < onceG.length; i++) assertEquals(2 * onceG[i], twiceG[i], 1e-6 * (1 + Math.abs(onceG[i])), "g " + i);
        w.zeroGrad();
        assertNull(w.grad());
    }

    @Test
    void aValueUsedTwiceGetsBothContributions() {
        // d/dx sum(x * x) = 2x, through two uses of the same Var
        Ops ops = new Ops(be);
        Parameter x = param(3, 2);
        ops.backward(ops.sum(ops.mul(x, x)));
        float[] xv = be.toFloats(x.value()), gx = be.toFloats(x.grad());
        for (int i = 0; i < xv.length; i++) assertEquals(2 * xv[i], gx[i], 1e-6);
        // and through add(x, x): gradient 2 everywhere
        x.zeroGrad();
        ops.backward(ops.sum(ops.add(x, x)));
        for (float v : be.toFloats(x.grad())) assertEquals(2f, v, 0f);
    }

    @Test
    void backwardRejectsNonScalarLoss() {
        Ops ops = new Ops(be);
        Parameter w = param(2, 2);
        Var y = ops.scale(w, 2f);
        assertThrows(IllegalArgumentException.class, () -> ops.backward(y));
    }
}
