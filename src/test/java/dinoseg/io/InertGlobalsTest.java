package dinoseg.io;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** mmcv checkpoint metadata: numpy values become inert placeholders; nothing else is let in. */
class InertGlobalsTest {
    static final Unpickler.Resolver NO_TENSORS = new Unpickler.Resolver() {
        @Override public Object persistentLoad(Object pid) throws Unpickler.PickleException { throw new Unpickler.PickleException("no storages here"); }

        @Override public Object rebuildTensor(Object s, long o, List<Object> size, List<Object> stride) throws Unpickler.PickleException {
            throw new Unpickler.PickleException("no tensors here");
        }
    };

    static Object load(String pickle) throws Unpickler.PickleException {
        return new Unpickler(PthReaderTest.bytes(pickle), NO_TENSORS).load();
    }

    /** {"best": numpy.float64(0.5)} as protocol 2 writes it: scalar(dtype('f8', False, True) + BUILD state, _codecs.encode(...)). */
    @Test void aNumpyScalarInMetaIsAnOpaquePlaceholder() throws Unpickler.PickleException {
        String dtype = "cnumpy\ndtype\nX\u0002\u0000\u0000\u0000f8\u0089\u0088\u0087R"
                + "(K\u0003X\u0001\u0000\u0000\u0000<NNNJ\u00ff\u00ff\u00ff\u00ffJ\u00ff\u00ff\u00ff\u00ffK\u0000tb";
        String bytes = "c_codecs\nencode\nX\u0008\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u00e0?X\u0006\u0000\u0000\u0000latin1\u0086R";
        String p = "\u0080\u0002}X\u0004\u0000\u0000\u0000bestcnumpy.core.multiarray\nscalar\n" + dtype + bytes + "\u0086Rs.";
        Object root = load(p);
        Map<?, ?> m = assertInstanceOf(Map.class, root);
        Unpickler.Opaque o = assertInstanceOf(Unpickler.Opaque.class, m.get("best"));
        assertEquals("numpy.core.multiarray.scalar", o.callable());
    }

    @Test void otherGlobalsAreStillRefused() {
        for (String g : List.of("numpy\nload\n", "numpy.core.multiarray\nscalars\n", "_codecs\ndecode\n", "numpy.core\nmultiarray\n")) {
            Unpickler.PickleException e = assertThrows(Unpickler.PickleException.class, () -> load("\u0080\u0002c" + g + ")R."));
            assertTrue(e.getMessage().contains("refuses the pickle global"), e.getMessage());
        }
        // BUILD is allowed on a placeholder, not on a string or a list
        assertThrows(Unpickler.PickleException.class, () -> load("\u0080\u0002X\u0001\u0000\u0000\u0000a}b."));
    }
}
