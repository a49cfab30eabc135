package io.tidewater.flink;

import java.io.IOException;
import java.io.Serializable;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/** A small signed HTTP client for the Tidewater Tunnel API (docs/API.md). */
public final class TidewaterClient implements AutoCloseable {
    private static final DateTimeFormatter DATE = DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss'Z'");
    private static final char[] HEX = "0123456789abcdef".toCharArray();

    /** Endpoint and credentials; serializable so it can travel with the sink. */
    public static final class Config implements Serializable {
        private static final long serialVersionUID = 1L;
        final String endpoint;
        final String accessId;
        final String accessKey;
        final int maxRetries;
        final Duration timeout;

        public Config(String endpoint, String accessId, String accessKey, int maxRetries, Duration timeout) {
            String e = endpoint;
            while (e.endsWith("/")) {
                e = e.substring(0, e.length() - 1);
            }
            this.endpoint = e;
            this.accessId = accessId;
            this.accessKey = accessKey;
            this.maxRetries = maxRetries;
            this.timeout = timeout;
        }
    }

    /** A non-2xx answer. */
    public static final class ApiException extends IOException {
        private static final long serialVersionUID = 1L;
        public final int status;
        public final String kind;
        public final boolean retryable;

        ApiException(String method, String path, int status, String kind, String message, boolean retryable) {
            super(method + " " + path + " failed: HTTP " + status + (kind == null ? "" : " " + kind)
                    + (message == null ? "" : ": " + message));
            this.status = status;
            this.kind = kind;
            this.retryable = retryable;
        }
    }

    private final Config config;
    private final HttpClient http;

    public TidewaterClient(Config config) {
        this.config = config;
        this.http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10))
                .version(HttpClient.Version.HTTP_1_1).build();
    }

    @Override
    public void close() {
        // java.net.http.HttpClient has no close() before Java 21; connections time out on their own.
    }

    // ---- signing (TW1-HMAC-SHA256) ----

    static String sha256Hex(byte[] body) {
        try {
            return hex(MessageDigest.getInstance("SHA-256").digest(body));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    static String hex(byte[] b) {
        char[] out = new char[b.length * 2];
        for (int k = 0; k < b.length; k++) {
            out[2 * k] = HEX[(b[k] >> 4) & 0xF];
            out[2 * k + 1] = HEX[b[k] & 0xF];
        }
        return new String(out);
    }

    static String sortedQuery(String query) {
        if (query == null || query.isEmpty()) {
            return "";
        }
        String[] pairs = Arrays.stream(query.split("&")).filter(p -> !p.isEmpty()).toArray(String[]::new);
        // Bytewise order: compare the UTF-8 bytes (Java's String order is by UTF-16 units).
        Arrays.sort(pairs, (a, b) -> Arrays.compareUnsigned(a.getBytes(StandardCharsets.UTF_8),
                b.getBytes(StandardCharsets.UTF_8)));
        return String.join("&", pairs);
    }

    static String canonical(String method, String path, String query, String date, String contentSha256) {
        return "TW1-HMAC-SHA256\n" + method.toUpperCase() + "\n" + path + "\n" + sortedQuery(query) + "\n"
                + date + "\n" + contentSha256;
    }

    static String sign(String secret, String canonical) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(secret.getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
            return hex(mac.doFinal(canonical.getBytes(StandardCharsets.UTF_8)));
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    // ---- requests ----

    /** One request with retries on retryable answers (429, 503, Internal) and I/O errors. */
    public Object call(String method, String target, byte[] body, String contentType) throws IOException {
        IOException last = null;
        long backoff = 100;
        for (int attempt = 0; attempt <= config.maxRetries; attempt++) {
            if (attempt > 0) {
                sleep(backoff);
                backoff = Math.min(backoff * 2, 10_000);
            }
            try {
                return once(method, target, body, contentType);
            } catch (ApiException e) {
                if (!e.retryable) {
                    throw e;
                }
                last = e;
            } catch (IOException e) {
                last = e;
            }
        }
        throw last;
    }

    private static void sleep(long ms) throws IOException {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
    }

    Object once(String method, String target, byte[] body, String contentType) throws IOException {
        int q = target.indexOf('?');
        String path = q < 0 ? target : target.substring(0, q);
        String query = q < 0 ? "" : target.substring(q + 1);
        String date = ZonedDateTime.now(ZoneOffset.UTC).format(DATE);
        String hash = sha256Hex(body);
        String sig = sign(config.accessKey, canonical(method, path, query, date, hash));
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(config.endpoint + target))
                .timeout(config.timeout)
                .header("Authorization", "TW1-HMAC-SHA256 Credential=" + config.accessId + ", Signature=" + sig)
                .header("x-tw-date", date)
                .header("x-tw-content-sha256", hash)
                .header("Content-Type", contentType)
                .method(method, body.length == 0 ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofByteArray(body));
        HttpResponse<String> r;
        try {
            r = http.send(b.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
        Object parsed = null;
        String text = r.body();
        if (text != null && !text.isBlank()) {
            try {
                parsed = Json.parse(text);
            } catch (IllegalArgumentException e) {
                parsed = text;
            }
        }
        if (r.statusCode() / 100 == 2) {
            return parsed;
        }
        String kind = null;
        String message = text;
        boolean retryable = r.statusCode() == 429 || r.statusCode() == 503;
        if (parsed instanceof Map && ((Map<?, ?>) parsed).get("error") instanceof Map) {
            Map<?, ?> err = (Map<?, ?>) ((Map<?, ?>) parsed).get("error");
            kind = (String) err.get("kind");
            message = (String) err.get("message");
            retryable |= Boolean.TRUE.equals(err.get("retryable"));
        }
        throw new ApiException(method, path, r.statusCode(), kind, message, retryable);
    }

    private Object json(String method, String target, String body) throws IOException {
        return call(method, target, body == null ? new byte[0] : body.getBytes(StandardCharsets.UTF_8),
                "application/json");
    }

    static String seg(String s) {
        // Names are ASCII letters, digits and '_'; session ids are UUIDs: nothing to encode.
        return s;
    }

    static String tablePath(String project, String table) {
        return "/v1/projects/" + seg(project) + "/tables/" + seg(table);
    }

    @SuppressWarnings("unchecked")
    public Map<String, Object> describeTable(String project, String table) throws IOException {
        return (Map<String, Object>) json("GET", tablePath(project, table), null);
    }

    /** Creates a session; {@code partition} null for none; returns its SessionInfo. */
    @SuppressWarnings("unchecked")
    public Map<String, Object> createSession(String project, String table, String kind, String partition,
            boolean dynamic, int lifecycleHours) throws IOException {
        StringBuilder sb = new StringBuilder("{\"kind\":");
        Json.quote(sb, kind);
        if (partition != null) {
            sb.append(",\"partition\":");
            Json.quote(sb, partition);
        }
        sb.append(",\"dynamic_partitions\":").append(dynamic);
        sb.append(",\"lifecycle_hours\":").append(lifecycleHours).append('}');
        // Retried only on retryable answers; a session created by an attempt whose answer was
        // lost is never written to and expires on its own.
        return (Map<String, Object>) json("POST", tablePath(project, table) + "/sessions", sb.toString());
    }

    @SuppressWarnings("unchecked")
    public Map<String, Object> getSession(String project, String table, String sessionId) throws IOException {
        return (Map<String, Object>) json("GET", tablePath(project, table) + "/sessions/" + seg(sessionId), null);
    }

    /** Uploads one block (safe to repeat: the same number replaces the earlier block). */
    public void putBlock(String project, String table, String sessionId, int bucket, long block, byte[] ndjson)
            throws IOException {
        call("PUT", tablePath(project, table) + "/sessions/" + seg(sessionId) + "/buckets/" + bucket
                + "/blocks/" + block, ndjson, "application/x-ndjson");
    }

    @SuppressWarnings("unchecked")
    public Map<String, Object> commit(String project, String table, String sessionId) throws IOException {
        return (Map<String, Object>) json("POST",
                tablePath(project, table) + "/sessions/" + seg(sessionId) + "/commit", null);
    }

    @SuppressWarnings("unchecked")
    public Map<String, Object> abort(String project, String table, String sessionId) throws IOException {
        return (Map<String, Object>) json("POST",
                tablePath(project, table) + "/sessions/" + seg(sessionId) + "/abort", null);
    }

    /** Runs SQL and returns the JSON answer. */
    @SuppressWarnings("unchecked")
    public Map<String, Object> sql(String sql) throws IOException {
        return (Map<String, Object>) json("POST", "/v1/sql", "{\"sql\":" + Json.quote(sql) + "}");
    }

    @SuppressWarnings("unchecked")
    static List<Object> list(Object o) {
        return (List<Object>) o;
    }
}
