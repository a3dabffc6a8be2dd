package dinoseg.backend.cuda;

import static jcuda.driver.JCudaDriver.cuFuncSetAttribute;
import static jcuda.driver.JCudaDriver.cuModuleGetFunction;
import static jcuda.driver.JCudaDriver.cuModuleLoadData;
import static jcuda.driver.JCudaDriver.cuModuleUnload;

import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import jcuda.driver.CUfunction;
import jcuda.driver.CUfunction_attribute;
import jcuda.driver.CUmodule;

/** The kernels of {@code kernels/*.cu}, loaded from the jar's fatbin into one module, functions cached by name. */
final class CudaKernels {
    /** Resource path of the fatbin built by kernels/build.sh. */
    static final String FATBIN = "/kernels/dinoseg.fatbin";

    /** Every kernel the backend launches; {@link #load} checks that each is in the module. */
    static final List<String> NAMES = List.of(
            "sgemm_batched", "gemm_bf16_tc", "gemm_tf32_tc", "splitk_reduce", "round_tf32_f",
            "attention_fwd", "attention_bwd_dot", "attention_bwd_dq", "attention_bwd_dkdv",
            "attention_fwd_bf16_tc_64", "attention_fwd_bf16_tc_128", "round_bf16_f",
            "attention_bwd_dkdv_bf16_tc_64", "attention_bwd_dkdv_bf16_tc_128", "attention_bwd_dq_bf16_tc_64", "attention_bwd_dq_bf16_tc_128",
            "layernorm_fwd", "layernorm_bwd_dx", "layernorm_bwd_params_partial", "column_sum_finalize",
            "layernorm_bwd_fused_4", "layernorm_bwd_fused_8", "layernorm_bwd_fused_12", "layernorm_bwd_fused_16", "layernorm_bwd_fused_24",
            "add_same", "add_bcast", "addcmul_trailing", "mul_same", "mul_bcast", "scale_f", "axpy_f", "fill_f",
            "gelu_fwd", "gelu_bwd", "relu_fwd", "relu_bwd", "swiglu_fwd", "swiglu_bwd", "flip_last_dim",
            "permute_u32", "copy_blocks_u32", "copy_blocks_add", "sum_to_thread", "sum_to_block", "sum_rows_partial",
            "sum_partial_d", "reduce_partials_d", "softmax_axis", "softmax_lastdim", "argmax_axis",
            "bn_stats", "bn_finalize", "bn_apply", "bn_bwd_reduce", "bn_bwd_dx",
            "im2col_f", "col2im_f",
            "resize_bilinear_fwd", "resize_bilinear_bwd",
            "ce_partial", "ce_finalize", "ce_grad", "confusion_update",
            "adamw_step", "adamw_step_scalars");

    private final CUmodule module = new CUmodule();
    private final Map<String, CUfunction> functions = new HashMap<>();
    private final Map<String, Integer> sharedLimit = new HashMap<>();

    /** The fatbin bytes from the class path, or null when the jar was built without nvcc. */
    static byte[] fatbinBytes() {
        try (InputStream in = CudaKernels.class.getResourceAsStream(FATBIN)) {
            return in == null ? null : in.readAllBytes();
        } catch (IOException e) {
            throw new IllegalStateException("cannot read " + FATBIN + " from the jar: " + e.getMessage(), e);
        }
    }

    /** The nvcc release that built the fatbin (from kernels/nvcc.txt), or "unknown". */
    static String nvccVersion() {
        try (InputStream in = CudaKernels.class.getResourceAsStream("/kernels/nvcc.txt")) {
            return in == null ? "unknown" : new String(in.readAllBytes(), java.nio.charset.StandardCharsets.US_ASCII).trim();
        } catch (IOException e) {
            return "unknown";
        }
    }

    /** Loads the module and looks up every kernel; returns the names the module lacks. */
    List<String> load(byte[] fatbin) {
        cuModuleLoadData(module, fatbin);
        List<String> missing = new ArrayList<>();
        for (String n : NAMES) {
            CUfunction f = new CUfunction();
            try {
                cuModuleGetFunction(f, module, n);
                functions.put(n, f);
            } catch (jcuda.CudaException e) {
                missing.add(n);
            }
        }
        return missing;
    }

    CUfunction get(String name) {
        CUfunction f = functions.get(name);
        if (f == null) throw new IllegalStateException("CUDA kernel " + name + " is not loaded");
        return f;
    }

    /** Raises the dynamic shared-memory limit of a kernel when a launch needs more than the 48 KiB default. */
    void ensureSharedMemory(String name, int bytes) {
        if (bytes <= 48 * 1024) return;
        Integer have = sharedLimit.get(name);
        if (have != null && have >= bytes) return;
        cuFuncSetAttribute(get(name), CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, bytes);
        sharedLimit.put(name, bytes);
    }

    void unload() { cuModuleUnload(module); }
}
