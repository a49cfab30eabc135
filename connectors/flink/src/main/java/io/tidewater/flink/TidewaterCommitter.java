package io.tidewater.flink;

import java.io.IOException;
import java.util.Collection;
import java.util.Map;
import org.apache.flink.api.connector.sink2.Committer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Commits the sessions of completed checkpoints, in checkpoint order. A commit is idempotent per
 * session on the server, so a commit replayed after a failure (restored from the committer's
 * state) returns the snapshot of the first one and never duplicates rows.
 */
final class TidewaterCommitter implements Committer<TidewaterCommittable> {
    private static final Logger LOG = LoggerFactory.getLogger(TidewaterCommitter.class);
    private final TidewaterClient client;

    TidewaterCommitter(SinkSpec spec) {
        this.client = new TidewaterClient(spec.commitClient);
    }

    @Override
    public void commit(Collection<CommitRequest<TidewaterCommittable>> requests) throws IOException {
        for (CommitRequest<TidewaterCommittable> r : requests) {
            TidewaterCommittable c = r.getCommittable();
            try {
                Map<String, Object> answer = client.commit(c.project, c.table, c.sessionId);
                LOG.info("committed {}: snapshot {}", c, answer.get("snapshot_id"));
            } catch (TidewaterClient.ApiException e) {
                if (e.status == 409 || e.status == 400) {
                    Map<String, Object> info = client.getSession(c.project, c.table, c.sessionId);
                    if ("committed".equals(info.get("state"))) {
                        LOG.info("{} was already committed (snapshot {})", c, info.get("snapshot_id"));
                        r.signalAlreadyCommitted();
                        continue;
                    }
                    throw new IOException("cannot commit " + c + ": the session is " + info.get("state")
                            + "; the rows of that checkpoint are not in the table (" + e.getMessage() + ")", e);
                }
                throw e; // retries exhausted: fail, and the commit is retried after the restore
            }
        }
    }

    @Override
    public void close() {
        client.close();
    }
}
