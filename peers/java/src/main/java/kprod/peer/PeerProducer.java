package kprod.peer;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;
import org.HdrHistogram.Histogram;
import org.apache.kafka.clients.producer.Callback;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.utils.AppInfoParser;

/**
 * The Java peer of the kprod workbench: runs one load through {@code KafkaProducer} and prints one JSON object.
 *
 * <p>Measurement matches kprod's: with {@code --rate R > 0} record i has the intended send time
 * {@code start + i/R} (open loop, free of coordinated omission); response time = ack − intended,
 * service time = ack − send() call, schedule lag = send() call − intended. With rate 0 the loop is closed:
 * intended = send() call, so response = service and lag = 0. Histograms are in microseconds with 3 significant
 * digits, warm-up records excluded, and are emitted as HdrHistogram V2 compressed (deflate) base64 so the Rust
 * side can decode and merge them.
 */
public final class PeerProducer {
    /** One hour in µs: anything slower is clamped, not dropped, so counts stay exact. */
    static final long HIGHEST_TRACKABLE_US = 3_600_000_000L;
    static final double MIB = 1024.0 * 1024.0;
    /** How long a closed loop waits for room among outstanding records before it gives up. */
    static final long OUTSTANDING_WAIT_S = 30;
    /** Producer metrics copied into the result: the ones that explain a throughput or latency difference. */
    static final List<String> METRICS = List.of("batch-size-avg", "batch-size-max", "records-per-request-avg",
            "request-latency-avg", "request-latency-max", "record-queue-time-avg", "record-queue-time-max",
            "compression-rate-avg", "record-size-avg", "request-rate", "request-total", "record-retry-total",
            "record-error-total", "produce-throttle-time-avg", "bufferpool-wait-time-ns-total", "io-ratio",
            "io-wait-ratio");

    private final Spec spec;
    // Written only on the producer's I/O thread (successful completions); read after close(), which joins it.
    private final Histogram responseUs = new Histogram(HIGHEST_TRACKABLE_US, 3);
    private final Histogram serviceUs = new Histogram(HIGHEST_TRACKABLE_US, 3);
    // Written only on the main thread.
    private final Histogram scheduleLagUs = new Histogram(HIGHEST_TRACKABLE_US, 3);
    private final LongAdder acked = new LongAdder();
    /** Room for records sent and not yet completed ({@code --max-outstanding}); null = unbounded. */
    private final Semaphore outstanding;
    // Failures may complete on the calling thread (send() reports some errors through the callback at once).
    private final LongAdder failed = new LongAdder();
    private final LongAdder ackedAll = new LongAdder();
    private final LongAdder failedAll = new LongAdder();
    /** Set by a completion once failedAll reaches --max-failed-records; read by the send loop each record. */
    private volatile boolean tooManyFailures;
    private final AtomicLong lastMeasuredAckNs = new AtomicLong(Long.MIN_VALUE);
    private final Map<String, LongAdder> errors = new ConcurrentHashMap<>();

    PeerProducer(Spec spec) {
        this.spec = spec;
        this.outstanding = spec.maxOutstanding > 0 ? new Semaphore(spec.maxOutstanding) : null;
    }

    public static void main(String[] args) {
        Spec spec;
        try {
            spec = Spec.parse(args);
        } catch (Spec.SpecException e) {
            if ("help".equals(e.getMessage())) {
                System.out.println(Spec.usage());
                return;
            }
            System.err.println("kprod-java-peer: error: " + e.getMessage());
            System.exit(2);
            return;
        }
        try {
            PeerProducer p = new PeerProducer(spec);
            System.out.println(p.run());
            if (p.tooManyFailures) {
                System.exit(1);
            }
        } catch (Exception e) {
            System.err.println("kprod-java-peer: error: " + e);
            System.exit(1);
        }
    }

    /** One record's timing, carried to its completion. */
    private final class Completion implements Callback {
        private final long intendedNs;
        private final long sendNs;
        private final boolean measured;

        Completion(long intendedNs, long sendNs, boolean measured) {
            this.intendedNs = intendedNs;
            this.sendNs = sendNs;
            this.measured = measured;
        }

        @Override
        public void onCompletion(RecordMetadata metadata, Exception exception) {
            long ackNs = System.nanoTime();
            if (outstanding != null) {
                outstanding.release();
            }
            if (exception != null) {
                errors.computeIfAbsent(exception.getClass().getSimpleName(), k -> new LongAdder()).increment();
                failedAll.increment();
                if (!tooManyFailures && failedAll.sum() >= spec.maxFailedRecords) {
                    tooManyFailures = true;
                }
                if (measured) {
                    failed.increment();
                    lastMeasuredAckNs.accumulateAndGet(ackNs, Math::max);
                }
                return;
            }
            ackedAll.increment();
            if (!measured) {
                return;
            }
            acked.increment();
            responseUs.recordValue(clampUs(ackNs - intendedNs));
            serviceUs.recordValue(clampUs(ackNs - sendNs));
            lastMeasuredAckNs.accumulateAndGet(ackNs, Math::max);
        }
    }

    static long clampUs(long ns) {
        return Math.max(0, Math.min(HIGHEST_TRACKABLE_US, ns / 1_000));
    }

    String run() {
        Properties props = new Properties();
        props.putAll(spec.producerProps);
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, spec.bootstrap);
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());

        SplittableRandom rng = new SplittableRandom(spec.seed);
        byte[][] payloads = makePayloads(rng);
        byte[][] keys = makeKeys();
        long durationNs = (long) (spec.durationS * 1e9);
        long warmupNs = (long) (spec.warmupS * 1e9);
        double intervalNs = spec.rateRecordsPerS > 0 ? 1e9 / spec.rateRecordsPerS : 0;
        long progressNs = (long) (spec.progressIntervalS * 1e9);

        long sent = 0;
        long warmupSent = 0;
        long measureStartNs = 0;
        long endSendNs;
        boolean aborted = false;
        Map<String, Object> metrics = new TreeMap<>();
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(props)) {
            long startNs = System.nanoTime();
            long lastProgressNs = startNs;
            long lastProgressAcked = 0;
            // Bounded by the measured count (--num-records), the measured duration (--duration-s), or both.
            for (long i = 0; spec.numRecords == 0 || sent < spec.numRecords; i++) {
                long intendedNs = 0;
                if (intervalNs > 0) {
                    intendedNs = startNs + (long) (i * intervalNs);
                    waitUntil(intendedNs);
                }
                long sendNs = System.nanoTime();
                if (intervalNs == 0) {
                    intendedNs = sendNs;
                }
                // Warm-up ends after --warmup-records records AND --warmup-s seconds of intended send times.
                boolean measured = i >= spec.warmupRecords && intendedNs - startNs >= warmupNs;
                if (measured) {
                    if (sent == 0) {
                        measureStartNs = intendedNs;
                    } else if (durationNs > 0 && intendedNs - measureStartNs >= durationNs) {
                        break;
                    }
                    scheduleLagUs.recordValue(clampUs(sendNs - intendedNs));
                    sent++;
                } else {
                    warmupSent++;
                }
                byte[] key = switch (spec.keyMode) {
                    case NONE -> null;
                    case ROUND_ROBIN -> keys[(int) (i % keys.length)];
                    case RANDOM -> keys[rng.nextInt(keys.length)];
                };
                byte[] value = payloads[(int) (i % payloads.length)];
                // The same loop shape as kprod's runner: wait for room among outstanding records, but not forever
                // (a stalled broker ends the run instead of hanging it).
                if (!awaitRoom()) {
                    System.err.printf("kprod-java-peer: stopping: no record completed in %d s (%d outstanding)%n",
                            OUTSTANDING_WAIT_S, spec.maxOutstanding);
                    aborted = true;
                    break;
                }
                producer.send(new ProducerRecord<>(spec.topic, null, key, value),
                        new Completion(intendedNs, sendNs, measured));
                if (tooManyFailures) {
                    System.err.printf("kprod-java-peer: stopping: %d records failed (--max-failed-records %d): %s%n",
                            failedAll.sum(), spec.maxFailedRecords, errors.keySet());
                    aborted = true;
                    break;
                }
                if (progressNs > 0 && sendNs >= lastProgressNs + progressNs) {
                    long a = ackedAll.sum();
                    System.err.printf("kprod-java-peer: %.0fs sent %d (+%d warm-up) acked %d failed %d, %.0f acks/s%n",
                            (sendNs - startNs) / 1e9, sent, warmupSent, acked.sum(), failed.sum(),
                            (a - lastProgressAcked) / ((sendNs - lastProgressNs) / 1e9));
                    lastProgressAcked = a;
                    lastProgressNs = sendNs;
                }
            }
            endSendNs = System.nanoTime();
            producer.flush();
            for (Map.Entry<MetricName, ? extends Metric> e : producer.metrics().entrySet()) {
                MetricName n = e.getKey();
                if (n.group().equals("producer-metrics") && METRICS.contains(n.name())) {
                    metrics.put(n.name(), e.getValue().metricValue());
                }
            }
            producer.close(Duration.ofSeconds(30));
        }
        long endNs = lastMeasuredAckNs.get() == Long.MIN_VALUE ? endSendNs : lastMeasuredAckNs.get();
        double durationS = sent == 0 ? 0 : Math.max(0, endNs - measureStartNs) / 1e9;
        return toJson(sent, warmupSent, durationS, metrics, aborted);
    }

    /** Takes room for one more outstanding record; false when none came in {@link #OUTSTANDING_WAIT_S}. */
    private boolean awaitRoom() {
        if (outstanding == null) {
            return true;
        }
        try {
            return outstanding.tryAcquire(OUTSTANDING_WAIT_S, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /** Sleeps most of a long wait, then spins the last stretch so the send lands close to its intended time. */
    private static void waitUntil(long deadlineNs) {
        while (true) {
            long left = deadlineNs - System.nanoTime();
            if (left <= 0) {
                return;
            }
            if (left > 200_000) {
                LockSupport.parkNanos(left - 100_000);
            } else {
                Thread.onSpinWait();
            }
        }
    }

    private byte[][] makePayloads(SplittableRandom rng) {
        byte[][] pool = new byte[spec.payloadPoolSize][spec.recordSizeBytes];
        for (byte[] p : pool) {
            for (int j = 0; j < p.length; j++) {
                p[j] = switch (spec.payload) {
                    case RANDOM -> (byte) rng.nextInt(256);
                    case LETTERS -> (byte) ('A' + rng.nextInt(26));
                    case ZEROS -> 0;
                };
            }
        }
        return pool;
    }

    private byte[][] makeKeys() {
        if (spec.keyMode == Spec.KeyMode.NONE) {
            return new byte[0][];
        }
        byte[][] keys = new byte[spec.keyCount][];
        for (int k = 0; k < keys.length; k++) {
            keys[k] = ("key-" + k).getBytes(StandardCharsets.UTF_8);
        }
        return keys;
    }

    // ---- result JSON ---------------------------------------------------------------------------------------

    String toJson(long sent, long warmupSent, double durationS, Map<String, Object> metrics, boolean aborted) {
        long ok = acked.sum();
        StringBuilder b = new StringBuilder(16_384).append('{');
        field(b, "driver", "kafka-clients KafkaProducer (kprod java peer)");
        field(b, "kafka_clients_version", AppInfoParser.getVersion());
        field(b, "bootstrap", spec.bootstrap);
        field(b, "topic", spec.topic);
        field(b, "record_size_bytes", spec.recordSizeBytes);
        field(b, "target_rate_records_per_s", spec.rateRecordsPerS);
        field(b, "open_loop", spec.rateRecordsPerS > 0);
        field(b, "key_mode", spec.keyModeText);
        field(b, "payload", spec.payload.name().toLowerCase());
        field(b, "seed", spec.seed);
        field(b, "warmup_s", spec.warmupS);
        b.append("\"producer_props\":{");
        Map<String, String> shown = new TreeMap<>(spec.producerProps);
        shown.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, spec.bootstrap);
        shown.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        shown.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        for (Map.Entry<String, String> e : shown.entrySet()) {
            field(b, e.getKey(), e.getValue());
        }
        closeObject(b);
        field(b, "warmup_records_sent", warmupSent);
        field(b, "records_sent", sent);
        field(b, "records_acked", ok);
        field(b, "records_failed", failed.sum());
        field(b, "aborted_on_failures", aborted);
        field(b, "duration_s", durationS);
        field(b, "rate_records_per_s", durationS > 0 ? ok / durationS : 0.0);
        field(b, "rate_mb_per_s", durationS > 0 ? ok * (double) spec.recordSizeBytes / MIB / durationS : 0.0);
        histogram(b, "response_time", responseUs);
        histogram(b, "service_time", serviceUs);
        histogram(b, "schedule_lag", scheduleLagUs);
        b.append("\"errors\":{");
        for (Map.Entry<String, LongAdder> e : new TreeMap<>(errors).entrySet()) {
            field(b, e.getKey(), e.getValue().sum());
        }
        closeObject(b);
        b.append("\"producer_metrics\":{");
        for (Map.Entry<String, Object> e : metrics.entrySet()) {
            Object v = e.getValue();
            if (v instanceof Number n) {
                field(b, e.getKey(), n.doubleValue());
            }
        }
        closeObject(b);
        b.setLength(b.length() - 1);
        return b.append('}').toString();
    }

    private static void histogram(StringBuilder b, String name, Histogram h) {
        field(b, name + "_count", h.getTotalCount());
        double[] ps = {50, 90, 99, 99.9};
        String[] names = {"p50", "p90", "p99", "p99_9"};
        for (int k = 0; k < ps.length; k++) {
            field(b, name + "_us_" + names[k], h.getTotalCount() == 0 ? 0 : h.getValueAtPercentile(ps[k]));
        }
        field(b, name + "_us_max", h.getTotalCount() == 0 ? 0 : h.getMaxValue());
        field(b, name + "_us_mean", h.getTotalCount() == 0 ? 0.0 : h.getMean());
        field(b, name + "_hdr_b64", encode(h));
    }

    /** HdrHistogram V2 compressed encoding (deflate), base64: what the Rust hdrhistogram crate deserializes. */
    static String encode(Histogram h) {
        // Deflate can exceed the plain size on incompressible input; leave room for that and the header.
        ByteBuffer buf = ByteBuffer.allocate(2 * h.getNeededByteBufferCapacity() + 1024);
        int len = h.encodeIntoCompressedByteBuffer(buf);
        return Base64.getEncoder().encodeToString(Arrays.copyOf(buf.array(), len));
    }

    private static void closeObject(StringBuilder b) {
        if (b.charAt(b.length() - 1) == ',') {
            b.setLength(b.length() - 1);
        }
        b.append("},");
    }

    private static void field(StringBuilder b, String key, Object value) {
        quote(b, key);
        b.append(':');
        if (value instanceof String s) {
            quote(b, s);
        } else if (value instanceof Double d) {
            b.append(Double.isFinite(d) ? d.toString() : "null");
        } else {
            b.append(value);
        }
        b.append(',');
    }

    private static void quote(StringBuilder b, String s) {
        b.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                default -> {
                    if (c < 0x20) {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        b.append('"');
    }
}
