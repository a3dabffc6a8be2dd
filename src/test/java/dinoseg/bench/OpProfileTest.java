package dinoseg.bench;

import dinoseg.autograd.Ops;
import dinoseg.autograd.Var;
import dinoseg.backend.Backend;
import dinoseg.backend.cpu.CpuBackend;
import dinoseg.tensor.Shape;
import org.junit.jupiter.api.Test;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.reflect.Method;
import java.util.Set;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class OpProfileTest {
    /** Every Backend method is an op with a family or named as not an op, and every name is a Backend method. */
    @Test
    void everyBackendMethodIsClassified() {
        Set<String> methods = new TreeSet<>();
        for (Method m : Backend.class.getMethods()) methods.add(m.getName());
        Set<String> missing = new TreeSet<>();
        for (String m : methods) if (!OpProfile.FAMILIES.containsKey(m) && !OpProfile.NOT_OPS.contains(m)) missing.add(m);
        assertTrue(missing.isEmpty(), "Backend methods without a profile family: " + missing);
        Set<String> unknown = new TreeSet<>(OpProfile.FAMILIES.keySet());
        unknown.addAll(OpProfile.NOT_OPS);
        unknown.removeAll(methods);
        assertTrue(unknown.isEmpty(), "names that are not Backend methods: " + unknown);
    }

    /** A Linear's product goes through Backend.linear (a default method) and is still timed, as gemm. */
    @Test
    void linearIsCountedAsGemmAndPrintedPerOp() {
        try (CpuBackend cpu = new CpuBackend()) {
            OpProfile prof = new OpProfile(cpu);
            Backend be = prof.backend();
            prof.enable(true);
            try (Ops ops = new Ops(be)) {
                Var x = ops.constant(be.full(Shape.of(8, 16), 1f));
                Var w = ops.constant(be.full(Shape.of(4, 16), 0.5f));
                Var y = ops.linear(x, w, null);
                assertEquals(8f, be.toFloats(y.value())[0]);
            }
            StringWriter sw = new StringWriter();
            prof.print(new PrintWriter(sw), 1);
            String table = sw.toString();
            assertTrue(table.lines().anyMatch(l -> l.startsWith("gemm ") && l.contains(" 1.0 ")), table);
            assertTrue(table.lines().anyMatch(l -> l.startsWith("linear ")), table);
        }
    }
}
