package dinoseg.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Fills the Vector API's per-operator implementation caches once, before any CPU kernel runs, so
 * that on JDK 17 C2 keeps the kernels' vectors in registers instead of boxing them on the heap.
 * Called by {@link CpuGemm#VECTOR_AVAILABLE}'s probe (only loaded after the module check, like
 * {@link VectorGemm}); the results are discarded, no kernel's arithmetic changes.
 *
 * <p>Why (measured with {@code -XX:+LogCompilation} on JDK 17.0.15): every {@code lanewise} and
 * {@code reduceLanes} call goes through {@code VectorOperators.ImplCache.find}, which on the first
 * use of an operator calls the cache's supplier. When an operator is first used after C2 has
 * compiled {@code find} into some method (a backward kernel's first step), that call deoptimizes
 * with reason {@code class_check}, and {@code find}'s profile keeps the count. C2 adds the counts
 * of every method it inlines into one compilation, and {@code find} is inlined once per vector
 * operation: with 3 such traps and 33 operations (GELU with its exp) the total passes
 * {@code PerMethodTrapLimit} (100), after which that compilation stops trusting type profiles
 * (virtual calls instead of uncommon traps), the species reaching {@code intoArray} is no longer a
 * constant, the store intrinsic fails and every vector of the loop is allocated: 0.4–1 GB/s of
 * garbage in the steady state of {@code bench --mode finetune}, in about half of the runs (the count
 * depends on the order in which operators are first used and methods compiled). With every
 * operator the kernels use looked up here, in the interpreter, {@code find} never calls its
 * supplier again and records no trap.
 */
final class VectorOpCaches {
    private VectorOpCaches() { }

    private static volatile boolean filled;

    /**
     * Runs each float and int operator the CPU kernels use (a superset: the unary, binary,
     * ternary, shift and reduction operators of {@link VectorOperators} that apply to the type)
     * once on a constant vector; idempotent.
     */
    static void fill() {
        if (filled) return;
        FloatVector f = FloatVector.broadcast(FloatVector.SPECIES_PREFERRED, 1f);
        for (VectorOperators.Unary op : new VectorOperators.Unary[] {
                VectorOperators.NEG, VectorOperators.ABS, VectorOperators.SQRT})
            f.lanewise(op);
        for (VectorOperators.Binary op : new VectorOperators.Binary[] {
                VectorOperators.ADD, VectorOperators.SUB, VectorOperators.MUL, VectorOperators.DIV,
                VectorOperators.MIN, VectorOperators.MAX})
            f.lanewise(op, f);
        f.lanewise(VectorOperators.FMA, f, f);
        for (VectorOperators.Associative op : new VectorOperators.Associative[] {
                VectorOperators.ADD, VectorOperators.MUL, VectorOperators.MIN, VectorOperators.MAX})
            f.reduceLanes(op);

        IntVector i = IntVector.broadcast(IntVector.SPECIES_PREFERRED, 1);
        for (VectorOperators.Unary op : new VectorOperators.Unary[] {
                VectorOperators.NEG, VectorOperators.ABS, VectorOperators.NOT})
            i.lanewise(op);
        for (VectorOperators.Binary op : new VectorOperators.Binary[] {
                VectorOperators.ADD, VectorOperators.SUB, VectorOperators.MUL, VectorOperators.AND,
                VectorOperators.OR, VectorOperators.XOR, VectorOperators.MIN, VectorOperators.MAX})
            i.lanewise(op, i);
        for (VectorOperators.Binary op : new VectorOperators.Binary[] {
                VectorOperators.LSHL, VectorOperators.LSHR, VectorOperators.ASHR}) {
            i.lanewise(op, 1);   // shift by a scalar count
            i.lanewise(op, i);   // shift by a vector of counts
        }
        for (VectorOperators.Associative op : new VectorOperators.Associative[] {
                VectorOperators.ADD, VectorOperators.MIN, VectorOperators.MAX})
            i.reduceLanes(op);
        filled = true;
    }
}
