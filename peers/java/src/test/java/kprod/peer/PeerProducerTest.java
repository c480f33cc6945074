package kprod.peer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.util.Base64;
import java.util.Map;
import org.HdrHistogram.Histogram;
import org.junit.jupiter.api.Test;

class PeerProducerTest {
    private static Spec parse(String... args) throws Spec.SpecException {
        return Spec.parse(args);
    }

    @Test
    void parsesEveryFlagInBothForms() throws Exception {
        Spec s = parse("--bootstrap", "h:1", "--topic=t", "--num-records", "1_000", "--duration-s", "2.5",
                "--record-size", "512", "--rate=100", "--key-mode", "random:7", "--warmup-records", "10",
                "--warmup-s", "1.5", "--payload-pool", "500", "--payload", "letters", "--seed", "-3", "--producer-prop", "acks=all",
                "--producer-prop=linger.ms=5", "--max-failed-records", "9", "--max-outstanding", "100000");
        assertEquals("h:1", s.bootstrap);
        assertEquals("t", s.topic);
        assertEquals(1000, s.numRecords);
        assertEquals(2.5, s.durationS);
        assertEquals(512, s.recordSizeBytes);
        assertEquals(100.0, s.rateRecordsPerS);
        assertEquals(Spec.KeyMode.RANDOM, s.keyMode);
        assertEquals(7, s.keyCount);
        assertEquals(10, s.warmupRecords);
        assertEquals(1.5, s.warmupS);
        assertEquals(500, s.payloadPoolSize);
        assertEquals(Spec.Payload.LETTERS, s.payload);
        assertEquals(-3, s.seed);
        assertEquals(9, s.maxFailedRecords);
        assertEquals(100000, s.maxOutstanding);
        assertEquals(Map.of("acks", "all", "linger.ms", "5"), s.producerProps);
    }

    @Test
    void errorsNameTheCulprit() {
        Spec.SpecException e = assertThrows(Spec.SpecException.class, () -> parse("--topic", "t", "--num-records", "1"));
        assertTrue(e.getMessage().contains("--bootstrap"), e.getMessage());
        e = assertThrows(Spec.SpecException.class, () -> parse("--bootstrap", "h:1", "--topic", "t"));
        assertTrue(e.getMessage().contains("--num-records"), e.getMessage());
        e = assertThrows(Spec.SpecException.class,
                () -> parse("--bootstrap", "h:1", "--topic", "t", "--num-records", "1", "--key-mode", "hash:3"));
        assertTrue(e.getMessage().contains("--key-mode"), e.getMessage());
        e = assertThrows(Spec.SpecException.class,
                () -> parse("--bootstrap", "h:1", "--topic", "t", "--num-records", "x"));
        assertTrue(e.getMessage().contains("--num-records"), e.getMessage());
        e = assertThrows(Spec.SpecException.class,
                () -> parse("--bootstrap", "h:1", "--topic", "t", "--num-records", "1", "--producer-prop", "acks"));
        assertTrue(e.getMessage().contains("KEY=VALUE"), e.getMessage());
        e = assertThrows(Spec.SpecException.class, () -> parse("--bootstrap", "h:1", "--topic", "t",
                "--num-records", "1", "--producer-prop", "value.serializer=x"));
        assertTrue(e.getMessage().contains("value.serializer"), e.getMessage());
        e = assertThrows(Spec.SpecException.class, () -> parse("--bootstrap", "h:1", "--topic", "t",
                "--num-records", "1", "--max-outstanding", "-1"));
        assertTrue(e.getMessage().contains("--max-outstanding"), e.getMessage());
        e = assertThrows(Spec.SpecException.class, () -> parse("--bootstrap", "h:1", "--bogus", "1"));
        assertTrue(e.getMessage().contains("--bogus"), e.getMessage());
        e = assertThrows(Spec.SpecException.class, () -> parse("--bootstrap"));
        assertTrue(e.getMessage().contains("needs a value"), e.getMessage());
    }

    @Test
    void clampKeepsValuesInTheTrackableRange() {
        assertEquals(0, PeerProducer.clampUs(-5_000));
        assertEquals(12, PeerProducer.clampUs(12_999));
        assertEquals(PeerProducer.HIGHEST_TRACKABLE_US, PeerProducer.clampUs(Long.MAX_VALUE));
    }

    @Test
    void histogramEncodingIsCompressedV2AndRoundTrips() throws Exception {
        Histogram h = new Histogram(PeerProducer.HIGHEST_TRACKABLE_US, 3);
        for (long v = 1; v <= 100_000; v += 7) {
            h.recordValue(v);
        }
        h.recordValue(PeerProducer.HIGHEST_TRACKABLE_US);
        byte[] bytes = Base64.getDecoder().decode(PeerProducer.encode(h));
        // V2 compressed cookie (base 0x1c849304, | 0x10 for the V2 word encoding) that the Rust deserializer expects.
        assertEquals(0x1c849314, ByteBuffer.wrap(bytes).getInt());
        Histogram back = Histogram.decodeFromCompressedByteBuffer(ByteBuffer.wrap(bytes), 0);
        assertEquals(h.getTotalCount(), back.getTotalCount());
        assertEquals(h.getValueAtPercentile(99.9), back.getValueAtPercentile(99.9));
        assertEquals(h.getMaxValue(), back.getMaxValue());
        assertEquals(h, back);
    }

    @Test
    void emptyResultIsWellFormedJson() throws Exception {
        Spec s = parse("--bootstrap", "h:1", "--topic", "q\"t", "--num-records", "1", "--producer-prop", "acks=1");
        String json = new PeerProducer(s).toJson(0, 0, 0.0, Map.of("batch-size-avg", 3.5), true);
        assertTrue(json.startsWith("{") && json.endsWith("}"), json);
        assertFalse(json.contains(",}") || json.contains(",,") || json.contains("NaN"), json);
        assertTrue(json.contains("\"topic\":\"q\\\"t\""), json);
        assertTrue(json.contains("\"records_sent\":0,"), json);
        assertTrue(json.contains("\"response_time_us_p99\":0,"), json);
        assertTrue(json.contains("\"producer_metrics\":{\"batch-size-avg\":3.5}"), json);
        assertTrue(json.contains("\"errors\":{}"), json);
        assertTrue(json.contains("\"aborted_on_failures\":true,"), json);
    }
}
