//! SEARCH in a session: reads what the key needs (parsed records, bodies, the full-text
//! index's answers) for the selected mailbox and asks [`mailkeep_core::mail::search`] which
//! messages match.

use mailkeep_core::index::Needle;
use mailkeep_core::mail::search::{
    Candidate, Hit, Needles, ask_index, header_fields, matches, needs_content, needs_header, split,
    text_keys,
};
use mailkeep_imap::{SearchKey, SearchReturn, Status, esearch_response};

use super::Session;
use crate::blocking;

impl Session {
    /// The messages of the selected mailbox that match `key`, in sequence order. Loads
    /// bodies only when the key or the caller (`want_header`) needs them. `Err` after a
    /// tagged NO was sent.
    pub(super) async fn matching(
        &mut self,
        tag: &str,
        key: &SearchKey,
        want_header: bool,
    ) -> Result<Vec<Hit>, ()> {
        let Some(sel) = self.selected.as_ref() else {
            return Err(());
        };
        let entries = sel.messages.clone();
        let saved = sel.saved.clone();
        let mut texts = Vec::new();
        text_keys(key, &mut texts);
        let has_texts = !texts.is_empty();
        let needles: Needles = texts
            .into_iter()
            .map(|(text, s)| {
                let n = Needle::with_prefix(&s, true);
                ((text, s), n)
            })
            .collect();
        let answers = match self.shared.index.clone() {
            Some(index) if has_texts => {
                let (store, needles) = (self.acting.clone(), needles.clone());
                match blocking(move || ask_index(&index, &*store, needles)).await {
                    Some(Ok(a)) => Some(a),
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "SEARCH without the full-text index");
                        None
                    }
                    None => None,
                }
            }
            _ => None,
        };
        let recent = sel.recent.clone();
        let max_seq = entries.len() as u32;
        let max_uid = entries.last().map_or(0, |m| m.uid);
        let content_needed = needs_content(key);
        let header_needed = want_header || needs_header(key);
        // Header fields come from the parsed records, as for FETCH ENVELOPE.
        let use_records = header_needed && !content_needed;
        let (mut records, mut made) = (std::collections::HashMap::new(), Vec::new());
        let mut hits = Vec::new();
        for (i, (entry, seq)) in entries.iter().cloned().zip(1u32..).enumerate() {
            if use_records && i % super::PARSED_CHUNK == 0 {
                let chunk = entries.iter().skip(i).take(super::PARSED_CHUNK);
                records = self.parsed_records(chunk.map(|m| m.hash).collect()).await;
            }
            let record = records.get(&entry.hash);
            let with_document = has_texts
                && answers
                    .as_ref()
                    .is_none_or(|a| a.unreached.contains(&entry.hash));
            let body_needed = content_needed || (header_needed && record.is_none());
            let raw = if body_needed || with_document {
                let (store, hash) = (self.acting.clone(), entry.hash);
                match blocking(move || store.read_blob(&hash)).await {
                    Some(Ok(b)) => Some(b),
                    _ => {
                        self.tagged(
                            tag,
                            Status::No,
                            Some("SERVERBUG"),
                            "Cannot read a message; the error is logged",
                        );
                        return Err(());
                    }
                }
            } else {
                None
            };
            let (raw, doc) = match raw {
                Some(raw) if with_document => blocking(move || {
                    let d = mailkeep_core::discover::document(&raw);
                    (Some(raw), Some(d))
                })
                .await
                .unwrap_or_default(),
                raw => (raw, None),
            };
            let missing = use_records && record.is_none();
            let fresh = super::missing_record(missing, &raw, entry.hash, &mut made);
            let header = match record.or(fresh.as_ref()) {
                Some(p) => Some(header_fields(&p.header)),
                None => raw.as_deref().map(|r| split(r).0),
            };
            let c = Candidate {
                seq,
                max_seq,
                max_uid,
                entry: &entry,
                raw: raw.as_deref(),
                header,
                saved: &saved,
                recent: &recent,
                doc: doc.as_ref(),
                answers: answers.as_ref(),
                needles: &needles,
            };
            if matches(key, &c) {
                let header = want_header.then(|| header.map(<[u8]>::to_vec)).flatten();
                hits.push(Hit { seq, entry, header });
            }
        }
        self.store_parsed(made);
        Ok(hits)
    }

    pub(super) async fn search(
        &mut self,
        tag: &str,
        uid: bool,
        ret: Option<Vec<SearchReturn>>,
        key: SearchKey,
    ) {
        let save = ret
            .as_ref()
            .is_some_and(|r| r.contains(&SearchReturn::Save));
        let Ok(found) = self.matching(tag, &key, false).await else {
            // RFC 5182 §2.1: a failed SEARCH with SAVE leaves the saved result empty.
            if save && let Some(sel) = self.selected.as_mut() {
                sel.saved.clear();
            }
            return;
        };
        if save && let Some(sel) = self.selected.as_mut() {
            let mut uids: Vec<u32> = found.iter().map(|h| h.entry.uid).collect();
            uids.sort_unstable();
            sel.saved = uids;
        }
        let hits: Vec<u32> = found
            .iter()
            .map(|h| if uid { h.entry.uid } else { h.seq })
            .collect();
        // IMAP4rev2 has no untagged SEARCH response: plain SEARCH answers ESEARCH ALL
        // (RFC 9051 §6.4.4).
        let ret = ret.or_else(|| self.rev2.then(|| vec![SearchReturn::All]));
        match ret {
            Some(returns) => {
                let line = esearch_response(Some(tag), uid, &returns, &hits);
                self.out.extend_from_slice(&line);
            }
            None => {
                let mut line = String::from("* SEARCH");
                for h in &hits {
                    line.push_str(&format!(" {h}"));
                }
                line.push_str("\r\n");
                self.out.extend_from_slice(line.as_bytes());
            }
        }
        let verb = if uid { "UID SEARCH" } else { "SEARCH" };
        self.tagged(tag, Status::Ok, None, &format!("{verb} completed"));
    }
}
