package dinoseg.train;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class LrScheduleTest {
    @Test
    void multistepMultipliesAtMilestones() {
        LrSchedule s = new LrSchedule(LrSchedule.Kind.MULTISTEP, 10, 4, new int[]{3, 6}, 0.1, 0);
        assertEquals(1.0, s.factor(11), 1e-12);   // epoch 2
        assertEquals(0.1, s.factor(12), 1e-12);   // epoch 3
        assertEquals(0.01, s.factor(39), 1e-12);  // epoch 9
    }

    @Test
    void cosineAndPolyEndAtZeroAndStartAtOne() {
        for (LrSchedule.Kind k : new LrSchedule.Kind[]{LrSchedule.Kind.COSINE, LrSchedule.Kind.POLY}) {
            LrSchedule s = new LrSchedule(k, 5, 10, null, 0.1, 0);
            assertEquals(1.0, s.factor(0), 1e-12, k.name());
            assertEquals(0.0, s.factor(50), 1e-12, k.name());
            assertTrue(s.factor(20) > s.factor(30), k.name() + " decreases");
        }
        assertEquals(0.5, new LrSchedule(LrSchedule.Kind.COSINE, 2, 10, null, 0, 0).factor(10), 1e-12);
    }

    @Test
    void warmupRampsLinearly() {
        LrSchedule s = new LrSchedule(LrSchedule.Kind.NONE, 3, 10, null, 0, 1);
        assertEquals(0.1, s.factor(0), 1e-12);
        assertEquals(0.5, s.factor(4), 1e-12);
        assertEquals(1.0, s.factor(9), 1e-12);
        assertEquals(1.0, s.factor(25), 1e-12);
    }

    @Test
    void unknownNameIsAClearError() {
        var e = assertThrows(IllegalArgumentException.class, () -> LrSchedule.Kind.parse("step"));
        assertTrue(e.getMessage().contains("step"));
    }
}
