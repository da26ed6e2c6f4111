//! SORT and THREAD (RFC 5256), as webmail clients use them: orderings and thread trees of
//! the messages a search found. Pure.

use std::cmp::Ordering;
use std::collections::HashMap;

use mailkeep_imap::{SortCriterion, SortKey, ThreadAlgorithm};

use super::search::{Hit, field_values};

/// RFC 5256 §2.1 base subject, simplified: lower-cased, whitespace collapsed, leading
/// `re:`/`fw:`/`fwd:` (with an optional `[n]`) and `[blob]` prefixes and trailing `(fwd)`
/// removed, repeatedly. Encoded words are compared undecoded.
pub fn base_subject(raw: &str) -> String {
    let mut s: String = raw
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    loop {
        let before = s.clone();
        while let Some(t) = s.strip_suffix("(fwd)") {
            s = t.trim_end().to_owned();
        }
        let t = s.trim_start();
        let t = if let Some(rest) = t.strip_prefix('[') {
            // A "[list-name]" blob, unless it is all there is.
            match rest.split_once(']') {
                Some((_, after)) if !after.trim().is_empty() => after,
                _ => t,
            }
        } else {
            t
        };
        let t = ["re", "fwd", "fw"]
            .iter()
            .find_map(|p| {
                let after = t.strip_prefix(p)?;
                let after = match after.strip_prefix('[') {
                    Some(r) => r.split_once(']').map(|(_, a)| a)?,
                    None => after,
                };
                after.strip_prefix(':')
            })
            .unwrap_or(t);
        s = t.trim().to_owned();
        if s == before {
            return s;
        }
    }
}

fn header_of(h: &Hit) -> &[u8] {
    h.header.as_deref().unwrap_or_default()
}

fn first(h: &Hit, name: &str) -> String {
    field_values(header_of(h), name)
        .into_iter()
        .next()
        .unwrap_or_default()
}

/// The mailbox (local part) of the first address of a field, lower-cased.
fn first_mailbox(h: &Hit, name: &str) -> String {
    let v = first(h, name);
    let addr = match (v.find('<'), v.find('>')) {
        (Some(a), Some(b)) if a < b => &v[a + 1..b],
        _ => v.split(',').next().unwrap_or(""),
    };
    addr.trim()
        .split('@')
        .next()
        .unwrap_or("")
        .trim()
        .to_lowercase()
}

/// The sent date of a message as unix seconds (its internal date when the Date: field is
/// missing or unreadable), for SORT DATE and THREAD.
fn sent_time(h: &Hit) -> i64 {
    parse_date(&first(h, "Date")).unwrap_or(h.entry.internal_date)
}

fn parse_date(value: &str) -> Option<i64> {
    mailkeep_imap::datetime::header_date(value.as_bytes()).map(|d| d.unix)
}

/// SORT's order of two messages under `criteria` (RFC 5256 §3), arrival order last.
pub fn compare(a: &Hit, b: &Hit, criteria: &[SortCriterion]) -> Ordering {
    for c in criteria {
        let o = match c.key {
            SortKey::Arrival => a.entry.internal_date.cmp(&b.entry.internal_date),
            SortKey::Cc => first_mailbox(a, "Cc").cmp(&first_mailbox(b, "Cc")),
            SortKey::Date => sent_time(a).cmp(&sent_time(b)),
            SortKey::From => first_mailbox(a, "From").cmp(&first_mailbox(b, "From")),
            SortKey::Size => a.entry.size.cmp(&b.entry.size),
            SortKey::Subject => {
                base_subject(&first(a, "Subject")).cmp(&base_subject(&first(b, "Subject")))
            }
            SortKey::To => first_mailbox(a, "To").cmp(&first_mailbox(b, "To")),
        };
        let o = if c.reverse { o.reverse() } else { o };
        if o != Ordering::Equal {
            return o;
        }
    }
    a.seq.cmp(&b.seq)
}

/// A thread tree node: a message (or a placeholder for one referenced but absent).
#[derive(Default, Clone)]
struct Node {
    hit: Option<usize>,
    children: Vec<usize>,
    parent: Option<usize>,
}

fn node_for(by_id: &mut HashMap<String, usize>, nodes: &mut Vec<Node>, id: &str) -> usize {
    *by_id.entry(id.to_owned()).or_insert_with(|| {
        nodes.push(Node::default());
        nodes.len() - 1
    })
}

fn message_ids(v: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = v;
    while let Some(a) = rest.find('<') {
        let Some(b) = rest[a..].find('>') else { break };
        out.push(rest[a..a + b + 1].to_owned());
        rest = &rest[a + b + 1..];
    }
    out
}

/// How deep a thread tree may nest. Deeper replies become siblings at this depth, so that
/// every message still appears once while sorting and rendering (which recurse) stay
/// within a small, fixed stack. Real discussions are far shallower.
const MAX_DEPTH: usize = 1_000;

/// Every message below node `n` (placeholders skipped), as trees without children, in
/// depth-first order; iterative, since the chain below can be arbitrarily long.
fn below(nodes: &[Node], n: usize) -> Vec<Tree> {
    let mut out = Vec::new();
    let mut stack: Vec<usize> = nodes[n].children.iter().rev().copied().collect();
    while let Some(c) = stack.pop() {
        if let Some(hit) = nodes[c].hit {
            out.push(Tree {
                hit,
                children: Vec::new(),
            });
        }
        stack.extend(nodes[c].children.iter().rev());
    }
    out
}

/// RFC 5256 REFERENCES, with its steps 1–4 and a simplified subject merge (step 5):
/// roots whose base subjects are equal join the earliest such root.
fn references(hits: &[Hit]) -> Vec<Tree> {
    let mut nodes: Vec<Node> = Vec::new();
    let mut by_id: HashMap<String, usize> = HashMap::new();
    let is_ancestor = |nodes: &Vec<Node>, anc: usize, mut n: usize| -> bool {
        let mut steps = 0;
        while let Some(p) = nodes[n].parent {
            if p == anc || steps > nodes.len() {
                return true;
            }
            n = p;
            steps += 1;
        }
        false
    };
    for (i, h) in hits.iter().enumerate() {
        let own = message_ids(&first(h, "Message-ID")).into_iter().next();
        let existing = own.as_ref().and_then(|id| by_id.get(id).copied());
        let me = match (own, existing) {
            // A second message with the same Message-ID gets a node of its own.
            (Some(_), Some(n)) if nodes[n].hit.is_some() => {
                nodes.push(Node::default());
                nodes.len() - 1
            }
            (Some(id), _) => node_for(&mut by_id, &mut nodes, &id),
            (None, _) => {
                nodes.push(Node::default());
                nodes.len() - 1
            }
        };
        nodes[me].hit = Some(i);
        let mut refs = message_ids(&first(h, "References"));
        if refs.is_empty() {
            refs = message_ids(&first(h, "In-Reply-To"))
                .into_iter()
                .take(1)
                .collect();
        }
        let mut prev: Option<usize> = None;
        for r in &refs {
            let n = node_for(&mut by_id, &mut nodes, r);
            if let Some(p) = prev
                && nodes[n].parent.is_none()
                && p != n
                && !is_ancestor(&nodes, n, p)
            {
                nodes[n].parent = Some(p);
                nodes[p].children.push(n);
            }
            prev = Some(n);
        }
        if let Some(p) = prev
            && p != me
            && !is_ancestor(&nodes, me, p)
        {
            if let Some(old) = nodes[me].parent.take() {
                nodes[old].children.retain(|&c| c != me);
            }
            nodes[me].parent = Some(p);
            nodes[p].children.push(me);
        }
    }
    // Trees without placeholders: a placeholder's children move up to its place. Below
    // MAX_DEPTH the rest of a chain hangs flat from its last node: shown, never dropped.
    fn build(nodes: &[Node], n: usize, depth: usize) -> Vec<Tree> {
        let mut kids: Vec<Tree> = Vec::new();
        if depth < MAX_DEPTH {
            for &c in &nodes[n].children {
                kids.extend(build(nodes, c, depth + 1));
            }
        } else {
            kids = below(nodes, n);
        }
        match nodes[n].hit {
            Some(hit) => vec![Tree {
                hit,
                children: kids,
            }],
            None => kids,
        }
    }
    let mut roots: Vec<Tree> = Vec::new();
    for n in (0..nodes.len()).filter(|&n| nodes[n].parent.is_none()) {
        let mut trees = build(&nodes, n, 0);
        if trees.len() > 1 {
            // A placeholder root with several children: the earliest leads the thread.
            trees.sort_by_key(|t| (sent_time(&hits[t.hit]), hits[t.hit].seq));
            let mut lead = trees.remove(0);
            lead.children.extend(trees);
            roots.push(lead);
        } else {
            roots.extend(trees);
        }
    }
    // Step 5, simplified: threads with the same base subject join the earliest of them.
    roots.sort_by_key(|t| (sent_time(&hits[t.hit]), hits[t.hit].seq));
    let mut by_subject: HashMap<String, usize> = HashMap::new();
    let mut merged: Vec<Tree> = Vec::new();
    for t in roots {
        let subject = base_subject(&first(&hits[t.hit], "Subject"));
        match by_subject.get(&subject).filter(|_| !subject.is_empty()) {
            Some(&k) => merged[k].children.push(t),
            None => {
                by_subject.insert(subject, merged.len());
                merged.push(t);
            }
        }
    }
    merged
}

/// A thread: a message and its replies.
struct Tree {
    hit: usize,
    children: Vec<Tree>,
}

impl Tree {
    fn sort(&mut self, hits: &[Hit]) {
        self.children
            .sort_by_key(|t| (sent_time(&hits[t.hit]), hits[t.hit].seq));
        for c in &mut self.children {
            c.sort(hits);
        }
    }

    /// RFC 5256 §4: a single reply continues the chain ("1 2 4"), several branch
    /// ("1 (2)(4)").
    fn render(&self, id: &dyn Fn(usize) -> u32, out: &mut String) {
        out.push_str(&id(self.hit).to_string());
        match self.children.as_slice() {
            [] => {}
            [only] => {
                out.push(' ');
                only.render(id, out);
            }
            many => {
                out.push(' ');
                for c in many {
                    out.push('(');
                    c.render(id, out);
                    out.push(')');
                }
            }
        }
    }
}

/// The `* THREAD` response for `hits`, each named by `id`.
pub fn thread_line(hits: &[Hit], algorithm: ThreadAlgorithm, id: &dyn Fn(usize) -> u32) -> String {
    let mut threads: Vec<Tree> = match algorithm {
        ThreadAlgorithm::OrderedSubject => {
            // Grouped by base subject; the earliest message is the parent of the rest.
            let mut order: Vec<usize> = (0..hits.len()).collect();
            order.sort_by_key(|&i| (sent_time(&hits[i]), hits[i].seq));
            let mut groups: Vec<(String, Tree)> = Vec::new();
            for i in order {
                let s = base_subject(&first(&hits[i], "Subject"));
                let leaf = Tree {
                    hit: i,
                    children: Vec::new(),
                };
                match groups.iter_mut().find(|(k, _)| *k == s) {
                    Some((_, t)) => t.children.push(leaf),
                    None => groups.push((s, leaf)),
                }
            }
            groups.into_iter().map(|(_, t)| t).collect()
        }
        ThreadAlgorithm::References => references(hits),
    };
    for t in &mut threads {
        t.sort(hits);
    }
    threads.sort_by_key(|t| (sent_time(&hits[t.hit]), hits[t.hit].seq));
    let mut line = String::from("* THREAD ");
    for t in &threads {
        line.push('(');
        t.render(id, &mut line);
        line.push(')');
    }
    line.push_str("\r\n");
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_subjects() {
        assert_eq!(
            base_subject("Re: Fwd: [rust-lang]  Hello   World (fwd)"),
            "hello world"
        );
        assert_eq!(base_subject("RE[2]: hi"), "hi");
        assert_eq!(base_subject("[only]"), "[only]");
        assert_eq!(base_subject(""), "");
    }

    fn hit(seq: u32, header: String) -> Hit {
        Hit {
            seq,
            entry: crate::store::MessageEntry {
                uid: seq,
                modseq: 1,
                flags: Vec::new(),
                hash: [0; 32],
                size: 0,
                internal_date: i64::from(seq),
            },
            header: Some(header.into_bytes()),
        }
    }

    /// The numbers of a `* THREAD` line, in order.
    fn numbers(line: &str) -> Vec<u32> {
        line.split(|c: char| !c.is_ascii_digit())
            .filter(|t| !t.is_empty())
            .map(|t| t.parse().unwrap())
            .collect()
    }

    fn each_once(hits: &[Hit], algorithm: ThreadAlgorithm) {
        let line = thread_line(hits, algorithm, &|i| hits[i].seq);
        let mut seen = numbers(&line);
        seen.sort_unstable();
        let all: Vec<u32> = (1..=hits.len() as u32).collect();
        assert_eq!(seen, all, "{line}");
    }

    #[test]
    fn a_chain_deeper_than_the_cap_shows_every_message() {
        // A first message and 10,001 replies, each to the one before (the old cap of 10,000
        // levels dropped the last): the deepest ones hang flat, none vanish.
        let n = 10_002u32;
        let hits: Vec<Hit> = (1..=n)
            .map(|i| {
                let refs: String = if i == 1 {
                    String::new()
                } else {
                    format!("In-Reply-To: <{}@t>\r\n", i - 1)
                };
                hit(
                    i,
                    format!("Message-ID: <{i}@t>\r\n{refs}Subject: chain\r\n\r\n"),
                )
            })
            .collect();
        let line = thread_line(&hits, ThreadAlgorithm::References, &|i| hits[i].seq);
        let got = numbers(&line);
        assert_eq!(got, (1..=n).collect::<Vec<_>>());
        // The first MAX_DEPTH messages still form one chain.
        let chain: String = (1..=MAX_DEPTH as u32 + 1)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            line.starts_with(&format!("* THREAD ({chain} (")),
            "{}",
            &line[..200]
        );
        each_once(&hits, ThreadAlgorithm::OrderedSubject);
    }

    proptest::proptest! {
        /// Any Message-ID / References / Subject soup, with duplicate ids, self references
        /// and cycles: every message appears exactly once in every THREAD answer.
        #[test]
        fn every_message_appears_exactly_once(
            msgs in proptest::collection::vec(
                (
                    proptest::option::of(0u8..12),
                    proptest::collection::vec(0u8..12, 0..5),
                    proptest::option::of(0u8..12),
                    0u8..3,
                ),
                0..40,
            )
        ) {
            let hits: Vec<Hit> = msgs
                .iter()
                .zip(1u32..)
                .map(|((own, refs, reply_to, subject), seq)| {
                    let mut h = String::new();
                    if let Some(id) = own {
                        h.push_str(&format!("Message-ID: <{id}@t>\r\n"));
                    }
                    if !refs.is_empty() {
                        let r: Vec<String> = refs.iter().map(|r| format!("<{r}@t>")).collect();
                        h.push_str(&format!("References: {}\r\n", r.join(" ")));
                    }
                    if let Some(r) = reply_to {
                        h.push_str(&format!("In-Reply-To: <{r}@t>\r\n"));
                    }
                    h.push_str(&format!("Subject: Re: s{subject}\r\n\r\n"));
                    hit(seq, h)
                })
                .collect();
            each_once(&hits, ThreadAlgorithm::References);
            each_once(&hits, ThreadAlgorithm::OrderedSubject);
        }
    }

    #[test]
    fn dates_with_zones() {
        assert_eq!(
            parse_date("Fri, 27 Nov 2026 02:46:59 +0100"),
            Some(1_795_744_019)
        );
        assert_eq!(parse_date("27 Nov 26 01:46:59 GMT"), Some(1_795_744_019));
        assert_eq!(parse_date("nonsense"), None);
    }
}
