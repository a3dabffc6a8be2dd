package dinoseg.tensor;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The one round-up-to-the-patch helper. */
class ShapeRoundUpTest {
    @Test void smallestPositiveMultipleAtOrAbove() {
        assertEquals(14, Shape.roundUp(1, 14));
        assertEquals(14, Shape.roundUp(14, 14));
        assertEquals(28, Shape.roundUp(15, 14));
        assertEquals(518, Shape.roundUp(512, 14));
        assertEquals(14, Shape.roundUp(0, 14));
        assertEquals(14, Shape.roundUp(-20, 14));
        assertEquals(7, Shape.roundUp(7, 1));
        for (int v = 1; v < 200; v++) {
            int r = Shape.roundUp(v, 16);
            assertEquals(0, r % 16);
            assertEquals(true, r >= v && r - v < 16, v + " -> " + r);
        }
    }

    @Test void badMultiplesAndOverflowAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> Shape.roundUp(10, 0));
        assertThrows(IllegalArgumentException.class, () -> Shape.roundUp(10, -14));
        assertThrows(IllegalArgumentException.class, () -> Shape.roundUp(Integer.MAX_VALUE, 14));
        assertEquals(Integer.MAX_VALUE - 1, Shape.roundUp(Integer.MAX_VALUE - 14, 14));
        assertEquals(Integer.MAX_VALUE - 1, Shape.roundUp(Integer.MAX_VALUE - 2, 2));
    }
}
