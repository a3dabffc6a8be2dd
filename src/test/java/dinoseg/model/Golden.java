package dinoseg.model;

import dinoseg.io.HostTensor;
import dinoseg.io.Safetensors;
import dinoseg.io.StateDict;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Access to the PyTorch fixtures under src/test/resources/golden (tools/gen_model_golden.py). */
public final class Golden {
    private Golden() { }

    public static Path path(String name) {
        try {
            var url = Golden.class.getResource("/golden/" + name);
            if (url == null) throw new IllegalStateException("missing fixture /golden/" + name + " (run tools/gen_model_golden.py)");
            return Path.of(url.toURI());
        } catch (java.net.URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    public static StateDict read(String name) throws java.io.IOException { return Safetensors.read(path(name)); }

    /** The generator's closed-form image: sin(0.05*y*(c+1) + 0.03*x + 0.7*b) * 1.5. */
    public static float[] image(int b, int h, int w) {
        float[] d = new float[b * 3 * h * w];
        int i = 0;
        for (int n = 0; n < b; n++)
            for (int c = 0; c < 3; c++)
                for (int y = 0; y < h; y++)
                    for (int x = 0; x < w; x++)
                        d[i++] = (float) (Math.sin(0.05 * y * (c + 1) + 0.03 * x + 0.7 * n) * 1.5);
        return d;
    }

    /** Asserts equal shapes and max |a - b| <= tol, reporting the worst element. */
    public static void assertClose(HostTensor expected, int[] actualShape, float[] actual, float tol, String what) {
        assertArrayEquals(expected.shape().dims(), actualShape, what + ": shape");
        float[] e = expected.data();
        assertEquals(e.length, actual.length, what + ": length");
        double worst = 0;
        int at = -1;
        for (int i = 0; i < e.length; i++) {
            double d = Math.abs((double) e[i] - actual[i]);
            if (!(d <= worst)) { worst = d; at = i; }
        }
        final double w = worst;
        final int a = at;
        assertTrue(w <= tol, () -> what + ": max abs diff " + w + " at " + a + " (expected " + e[a] + ", got " + actual[a] + ")");
    }
}
