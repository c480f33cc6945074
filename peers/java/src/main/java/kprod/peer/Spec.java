package kprod.peer;

import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;

/**
 * One load to run, parsed from command-line flags. Every producer setting comes from the user
 * ({@code --producer-prop k=v} or {@code --producer-config FILE}); the driver adds only
 * {@code bootstrap.servers} (from {@code --bootstrap}) and the byte-array serializers.
 */
final class Spec {
    /** Thrown for a bad flag or value; the message names the flag. */
    static final class SpecException extends Exception {
        SpecException(String message) {
            super(message);
        }
    }

    /** How keys are chosen: none (null keys), round-robin over N keys, or uniformly random over N keys. */
    enum KeyMode { NONE, ROUND_ROBIN, RANDOM }

    /** How record values are filled: random bytes (incompressible) or 'A'..'Z' like kafka-producer-perf-test. */
    enum Payload { RANDOM, LETTERS, ZEROS }

    String bootstrap;
    String topic;
    /** Measured records (after warm-up); 0 = bounded by duration only. */
    long numRecords;
    /** Measured duration bound in seconds; 0 = bounded by record count only. */
    double durationS;
    int recordSizeBytes = 100;
    /** Target records per second; 0 = closed loop (send as fast as send() returns). */
    double rateRecordsPerS;
    KeyMode keyMode = KeyMode.NONE;
    int keyCount;
    String keyModeText = "none";
    long warmupRecords;
    /** Records due in the first S seconds are warm-up too (kprod's warm-up is a duration; this matches it). */
    double warmupS;
    Payload payload = Payload.RANDOM;
    long seed = 42;
    /** Distinct payloads cycled through, so the broker does not see one value repeated. */
    int payloadPoolSize = 64;
    double progressIntervalS = 5.0;
    /** Stop sending once this many records (warm-up included) have failed: a dead broker ends the run. */
    long maxFailedRecords = 1000;
    /**
     * Records sent and not yet completed, at most (kprod's {@code max_outstanding_per_task}); 0 = unbounded, so
     * only buffer.memory bounds a closed loop.
     */
    int maxOutstanding;
    final Map<String, String> producerProps = new LinkedHashMap<>();

    static String usage() {
        return String.join("\n",
                "Usage: java -jar kprod-java-peer-all.jar --bootstrap HOST:PORT --topic T",
                "           (--num-records N | --duration-s S) [options]",
                "",
                "  --bootstrap HOST:PORT[,..]   bootstrap.servers",
                "  --topic NAME                 topic to produce to",
                "  --num-records N              measured records (after warm-up)",
                "  --duration-s S               measured duration bound (after warm-up)",
                "  --record-size BYTES          value size (default 100)",
                "  --rate R                     records/s, open loop; 0 = unthrottled closed loop (default 0)",
                "  --max-outstanding N          records sent and not yet acked, at most (default 0: unbounded)",
                "  --key-mode M                 none | roundrobin:N | random:N (default none)",
                "  --warmup-records N           records sent first and left out of every figure (default 0)",
                "  --warmup-s S                 records due in the first S seconds are warm-up too (default 0)",
                "  --payload P                  random | letters | zeros (default random)",
                "  --seed N                     seed for payloads and random keys (default 42)",
                "  --payload-pool N             distinct values cycled through (default 64); make N x size exceed",
                "                               a batch and the codec's window, or compression sees repeats",
                "  --producer-prop K=V          a producer setting; repeatable",
                "  --producer-config FILE       producer settings from a properties file",
                "  --progress-interval-s S      stderr progress period, 0 = off (default 5)",
                "  --max-failed-records N       stop sending after N failed records (default 1000)",
                "",
                "Prints one JSON object on stdout when done; progress goes to stderr.");
    }

    static Spec parse(String[] args) throws SpecException {
        Spec s = new Spec();
        List<String> list = new ArrayList<>(List.of(args));
        for (int i = 0; i < list.size(); i++) {
            String flag = list.get(i);
            String value;
            int eq = flag.indexOf('=');
            if (flag.startsWith("--") && eq > 0) {
                value = flag.substring(eq + 1);
                flag = flag.substring(0, eq);
            } else if (flag.equals("--help") || flag.equals("-h")) {
                throw new SpecException("help");
            } else {
                if (i + 1 >= list.size()) {
                    throw new SpecException(flag + " needs a value");
                }
                value = list.get(++i);
            }
            s.apply(flag, value);
        }
        s.validate();
        return s;
    }

    private void apply(String flag, String value) throws SpecException {
        switch (flag) {
            case "--bootstrap" -> bootstrap = value;
            case "--topic" -> topic = value;
            case "--num-records" -> numRecords = parseLong(flag, value, 0);
            case "--duration-s" -> durationS = parseDouble(flag, value, 0);
            case "--record-size" -> recordSizeBytes = (int) parseLong(flag, value, 0, Integer.MAX_VALUE - 64);
            case "--rate" -> rateRecordsPerS = parseDouble(flag, value, 0);
            case "--warmup-records" -> warmupRecords = parseLong(flag, value, 0);
            case "--warmup-s" -> warmupS = parseDouble(flag, value, 0);
            case "--payload-pool" -> payloadPoolSize = (int) parseLong(flag, value, 1, 10_000_000);
            case "--seed" -> seed = parseLong(flag, value, Long.MIN_VALUE);
            case "--progress-interval-s" -> progressIntervalS = parseDouble(flag, value, 0);
            case "--max-failed-records" -> maxFailedRecords = parseLong(flag, value, 1);
            case "--max-outstanding" -> maxOutstanding = (int) parseLong(flag, value, 0, Integer.MAX_VALUE);
            case "--key-mode" -> parseKeyMode(value);
            case "--payload" -> payload = switch (value) {
                case "random" -> Payload.RANDOM;
                case "letters" -> Payload.LETTERS;
                case "zeros" -> Payload.ZEROS;
                default -> throw new SpecException("--payload must be random, letters or zeros (got '" + value + "')");
            };
            case "--producer-prop" -> {
                int eq = value.indexOf('=');
                if (eq <= 0) {
                    throw new SpecException("--producer-prop needs KEY=VALUE (got '" + value + "')");
                }
                producerProps.put(value.substring(0, eq).trim(), value.substring(eq + 1).trim());
            }
            case "--producer-config" -> {
                Properties p = new Properties();
                try (Reader r = Files.newBufferedReader(Path.of(value))) {
                    p.load(r);
                } catch (IOException e) {
                    throw new SpecException("--producer-config: cannot read '" + value + "': " + e.getMessage());
                }
                for (String k : p.stringPropertyNames()) {
                    producerProps.put(k, p.getProperty(k));
                }
            }
            default -> throw new SpecException("unknown flag '" + flag + "' (see --help)");
        }
    }

    private void parseKeyMode(String value) throws SpecException {
        keyModeText = value;
        if (value.equals("none")) {
            keyMode = KeyMode.NONE;
            return;
        }
        int colon = value.indexOf(':');
        String kind = colon < 0 ? value : value.substring(0, colon);
        if (colon < 0 || !(kind.equals("roundrobin") || kind.equals("random"))) {
            throw new SpecException("--key-mode must be none, roundrobin:N or random:N (got '" + value + "')");
        }
        keyMode = kind.equals("roundrobin") ? KeyMode.ROUND_ROBIN : KeyMode.RANDOM;
        keyCount = (int) parseLong("--key-mode", value.substring(colon + 1), 1, 10_000_000);
    }

    private void validate() throws SpecException {
        if (bootstrap == null || bootstrap.isBlank()) {
            throw new SpecException("--bootstrap is required");
        }
        if (topic == null || topic.isBlank()) {
            throw new SpecException("--topic is required");
        }
        if (numRecords == 0 && durationS == 0) {
            throw new SpecException("give --num-records and/or --duration-s (a run must be bounded)");
        }
        for (String k : List.of("key.serializer", "value.serializer")) {
            if (producerProps.containsKey(k)) {
                throw new SpecException("--producer-prop " + k + " is fixed to ByteArraySerializer by the driver");
            }
        }
    }

    private static long parseLong(String flag, String v, long min) throws SpecException {
        return parseLong(flag, v, min, Long.MAX_VALUE);
    }

    private static long parseLong(String flag, String v, long min, long max) throws SpecException {
        try {
            long x = Long.parseLong(v.replace("_", ""));
            if (x < min || x > max) {
                throw new SpecException(flag + " must be in " + min + ".." + max + " (got " + x + ")");
            }
            return x;
        } catch (NumberFormatException e) {
            throw new SpecException(flag + " needs an integer (got '" + v + "')");
        }
    }

    private static double parseDouble(String flag, String v, double min) throws SpecException {
        try {
            double x = Double.parseDouble(v);
            if (!(x >= min) || Double.isInfinite(x)) {
                throw new SpecException(flag + " must be a finite number >= " + min + " (got " + v + ")");
            }
            return x;
        } catch (NumberFormatException e) {
            throw new SpecException(flag + " needs a number (got '" + v + "')");
        }
    }
}
