//! SORT and THREAD in a session: the matching messages with their header fields, ordered or
//! threaded by [`mailkeep_core::mail::thread`].

use mailkeep_core::mail::thread::{compare, thread_line};
use mailkeep_imap::{SearchKey, SortCriterion, Status, ThreadAlgorithm};

use super::Session;

impl Session {
    pub(super) async fn sort(
        &mut self,
        tag: &str,
        uid: bool,
        criteria: Vec<SortCriterion>,
        key: SearchKey,
    ) {
        let Ok(mut hits) = self.matching(tag, &key, true).await else {
            return;
        };
        hits.sort_by(|a, b| compare(a, b, &criteria));
        let mut line = String::from("* SORT");
        for h in &hits {
            line.push_str(&format!(" {}", if uid { h.entry.uid } else { h.seq }));
        }
        line.push_str("\r\n");
        self.out.extend_from_slice(line.as_bytes());
        let verb = if uid { "UID SORT" } else { "SORT" };
        self.tagged(tag, Status::Ok, None, &format!("{verb} completed"));
    }

    pub(super) async fn thread(
        &mut self,
        tag: &str,
        uid: bool,
        algorithm: ThreadAlgorithm,
        key: SearchKey,
    ) {
        let Ok(hits) = self.matching(tag, &key, true).await else {
            return;
        };
        let id = |i: usize| if uid { hits[i].entry.uid } else { hits[i].seq };
        let line = thread_line(&hits, algorithm, &id);
        self.out.extend_from_slice(line.as_bytes());
        let verb = if uid { "UID THREAD" } else { "THREAD" };
        self.tagged(tag, Status::Ok, None, &format!("{verb} completed"));
    }
}
