package dinoseg.backend.cuda;

import static jcuda.driver.JCudaDriver.cuGraphDestroy;
import static jcuda.driver.JCudaDriver.cuGraphExecDestroy;
import static jcuda.driver.JCudaDriver.cuGraphGetNodes;
import static jcuda.driver.JCudaDriver.cuGraphInstantiate;
import static jcuda.driver.JCudaDriver.cuGraphLaunch;

import dinoseg.backend.Backend;
import jcuda.CudaException;
import jcuda.driver.CUgraph;
import jcuda.driver.CUgraphExec;

/**
 * A captured CUDA graph (see {@link Backend#capture}): the stream's work recorded by
 * cuStreamBeginCapture/cuStreamEndCapture, instantiated once (cuGraphInstantiate) and queued again
 * by {@link #replay} with one cuGraphLaunch; the memory its capture took stays in its
 * {@link CudaAllocator.GraphPool} until {@link #close}.
 */
final class CudaGraph implements Backend.Graph {
    private final CudaContext ctx;
    private final CudaMemory mem;
    private final CudaAllocator.GraphPool pool;
    private final CUgraph graph;
    private final CUgraphExec exec = new CUgraphExec();
    private final int nodes;
    private boolean closed;

    /**
     * Records what {@code body} queues on the stream. On any failure the capture is discarded, its
     * memory returned, and the body's exception (or the driver's) is thrown.
     */
    static CudaGraph capture(CudaContext ctx, CudaMemory mem, Runnable body) {
        ctx.bind();
        CudaAllocator.GraphPool pool = mem.beginCapture();
        CUgraph graph = new CUgraph();
        RuntimeException failure = null;
        boolean recorded = false, ok = false;
        try {
            ctx.beginCapture();
            try {
                body.run();
            } catch (RuntimeException e) {
                failure = e;
            } finally {
                try {
                    ctx.endCapture(graph);   // throws when a prohibited call invalidated the capture
                    recorded = true;
                } catch (CudaException e) {
                    if (failure == null) failure = e;
                    else failure.addSuppressed(e);
                }
            }
            ok = failure == null && recorded;
        } catch (RuntimeException e) {   // the capture did not start
            failure = e;
        } finally {
            mem.endCapture();
            if (!ok) {
                if (recorded) cuGraphDestroy(graph);
                mem.closePool(pool);
            }
        }
        if (failure != null) throw failure;
        return new CudaGraph(ctx, mem, pool, graph);
    }

    private CudaGraph(CudaContext ctx, CudaMemory mem, CudaAllocator.GraphPool pool, CUgraph graph) {
        this.ctx = ctx;
        this.mem = mem;
        this.pool = pool;
        this.graph = graph;
        long[] n = new long[1];
        try {
            cuGraphGetNodes(graph, null, n);
            cuGraphInstantiate(exec, graph, 0);
        } catch (CudaException e) {
            cuGraphDestroy(graph);
            throw new CudaException("CUDA graph instantiation failed: " + CudaContext.describe(e), e);
        }
        this.nodes = (int) n[0];
    }

    @Override public void replay() {
        if (closed) throw new IllegalStateException("replay of a closed CUDA graph");
        ctx.bind();
        ctx.requireNotCapturing("a graph replay");
        try {
            cuGraphLaunch(exec, ctx.stream);
        } catch (CudaException e) {
            throw new CudaException("CUDA graph launch (" + nodes + " nodes): " + CudaContext.describe(e), e);
        }
    }

    @Override public int nodes() { return nodes; }

    @Override public long bytes() { return pool.bytes(); }

    /** Destroys the graph; queued replays still run (the stream orders every later use of its memory after them). */
    @Override public void close() {
        if (closed) return;
        closed = true;
        ctx.bind();
        cuGraphExecDestroy(exec);
        cuGraphDestroy(graph);
        mem.closePool(pool);
    }
}
