//! Title search: an n-gram index in MariaDB (`house_title_grams`), kept in the house's own
//! transaction, so it needs no server plugin (managed MariaDB such as RDS has no Mroonga) and
//! commits, rolls back and survives restarts with the rows it indexes.
//!
//! Every title is indexed as the set of its character bigrams and trigrams within
//! whitespace-separated words. A `title=` term is looked up by the trigrams of its words (the
//! bigram of a two-character word), and matches the substring definition (`title LIKE '%term%'`
//! under the title's collation) exactly: the n-grams only choose candidate rows (every n-gram of
//! a word of the term is an n-gram of a word of any title containing it), and the LIKE is
//! checked on them. Trigrams keep the postings short: the seed's titles are built from a small
//! vocabulary, where a bigram such as 花园 occurs in a tenth of all houses.
use std::collections::BTreeSet;
use std::num::NonZeroUsize;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use lru::LruCache;

use sqlx::{MySql, MySqlConnection, MySqlPool, QueryBuilder};

use crate::error::{ApiError, ResultExt};
use crate::metrics::Metrics;

/// A page is read from the postings only when the rarest n-gram has at most this many: a term
/// whose every n-gram is more common matches densely, and walking the ordering's index while
/// checking titles fills a page sooner than sorting the candidates.
pub const MAX_DRIVER_POSTINGS: i64 = 10_000;
/// Besides the driving n-gram, at most this many others are intersected (by primary-key
/// lookups) before the rows are read; the substring check does the rest. Each costs a lookup
/// per candidate, and removes little unless it comes from another word.
const MAX_JOINED_GRAMS: usize = 2;

fn words(s: &str) -> impl Iterator<Item = Vec<char>> + '_ {
    s.split_whitespace().map(|w| w.chars().collect())
}

fn push_distinct(seen: &mut BTreeSet<String>, out: &mut Vec<String>, g: String) {
    if seen.insert(g.clone()) {
        out.push(g);
    }
}

/// What a title is indexed under: the distinct bigrams and trigrams of its words.
pub fn grams(s: &str) -> Vec<String> {
    let (mut seen, mut out) = (BTreeSet::new(), Vec::new());
    for chars in words(s) {
        for n in [2, 3] {
            for w in chars.windows(n) {
                push_distinct(&mut seen, &mut out, w.iter().collect());
            }
        }
    }
    out
}

/// What a term is looked up by, word by word: the trigrams of each word, or the word itself when
/// it has two characters. Words of one character give nothing.
pub fn query_word_grams(s: &str) -> Vec<Vec<String>> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for chars in words(s) {
        let n = if chars.len() == 2 { 2 } else { 3 };
        let mut word = Vec::new();
        for w in chars.windows(n) {
            push_distinct(&mut seen, &mut word, w.iter().collect());
        }
        if !word.is_empty() {
            out.push(word);
        }
    }
    out
}

/// All of [`query_word_grams`], in order.
pub fn query_grams(s: &str) -> Vec<String> {
    query_word_grams(s).concat()
}

/// How a title term is looked up: `grams` are the term's rarest n-grams, rarest first (empty
/// when the term has no two-character word: then titles are checked along the ordering's index).
/// `dense`: even the rarest is too common to sort a page from ([`MAX_DRIVER_POSTINGS`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TitlePlan {
    pub grams: Vec<String>,
    pub dense: bool,
}

impl TitlePlan {
    /// The n-grams a page query reads from.
    pub fn for_page(&self) -> &[String] {
        if self.dense {
            &[]
        } else {
            &self.grams
        }
    }

    /// The n-grams a capped count reads from: the postings too when the title is the only
    /// filter (the count stops at the cap, so a dense term stops early); with other filters a
    /// dense term is counted along their index instead.
    pub fn for_count(&self, other_filters: bool) -> &[String] {
        if other_filters {
            self.for_page()
        } else {
            &self.grams
        }
    }
}

/// How long a counted posting size is reused. A stale size only changes which n-gram drives (or
/// whether the term counts as dense), never the results; counting the postings of a common
/// n-gram reads up to [`MAX_DRIVER_POSTINGS`] index entries, the largest cost of a cheap search.
const SIZE_TTL: Duration = Duration::from_secs(60);
const SIZE_CACHE_CAPACITY: usize = 20_000;

type SizeCache = Mutex<LruCache<(String, String), (Instant, i64)>>;
static SIZES: LazyLock<SizeCache> =
    LazyLock::new(|| Mutex::new(LruCache::new(NonZeroUsize::new(SIZE_CACHE_CAPACITY).expect("non-zero"))));

/// Choose the plan for `term`: each n-gram's postings counted up to [`MAX_DRIVER_POSTINGS`] (one
/// index-only statement for those not counted in the last minute), the rarest drives.
pub async fn plan(db: &MySqlPool, m: &Metrics, term: &str) -> Result<TitlePlan, ApiError> {
    let words = query_word_grams(term);
    if words.is_empty() {
        return Ok(TitlePlan::default());
    }
    let database = db.connect_options().get_database().unwrap_or_default().to_string();
    let wanted: Vec<String> = words.iter().flatten().cloned().collect();
    let mut size: std::collections::HashMap<String, i64> = Default::default();
    let mut unknown: Vec<String> = Vec::new();
    {
        let mut cache = SIZES.lock().unwrap_or_else(|e| e.into_inner());
        for g in wanted {
            match cache.get(&(database.clone(), g.clone())) {
                Some((at, n)) if at.elapsed() < SIZE_TTL => {
                    size.insert(g, *n);
                }
                _ => unknown.push(g),
            }
        }
    }
    if !unknown.is_empty() {
        let mut qb: QueryBuilder<MySql> = QueryBuilder::new("SELECT ");
        for (n, g) in unknown.iter().enumerate() {
            if n > 0 {
                qb.push(", ");
            }
            qb.push("(SELECT COUNT(*) FROM (SELECT 1 FROM house_title_grams WHERE gram = ")
                .push_bind(g.clone())
                .push(" LIMIT ")
                .push_bind(MAX_DRIVER_POSTINGS + 1)
                .push(format!(") g{n})"));
        }
        let row = m
            .time_query("houses_title_plan", qb.build().fetch_one(db))
            .await
            .context_api("Failed to size the title search")?;
        let mut cache = SIZES.lock().unwrap_or_else(|e| e.into_inner());
        for (n, g) in unknown.into_iter().enumerate() {
            let c: i64 = sqlx::Row::try_get(&row, n).context_api("Failed to read an n-gram's size")?;
            cache.put((database.clone(), g.clone()), (Instant::now(), c));
            size.insert(g, c);
        }
    }
    // The rarest n-gram drives; the joined ones are the rarest of each other word first (the
    // words of a term constrain independently, the n-grams of one word mostly repeat each other).
    let rarest = |w: &Vec<String>| w.iter().map(|g| (size[g], g.clone())).min().expect("words are non-empty");
    let mut per_word: Vec<(i64, String)> = words.iter().map(rarest).collect();
    per_word.sort();
    let driver = per_word[0].0;
    let mut grams: Vec<String> = per_word.into_iter().map(|(_, g)| g).collect();
    let mut rest: Vec<(i64, String)> =
        words.iter().flatten().filter(|g| !grams.contains(g)).map(|g| (size[g], g.clone())).collect();
    rest.sort();
    grams.extend(rest.into_iter().map(|(_, g)| g));
    grams.truncate(1 + MAX_JOINED_GRAMS);
    // Walking the ordering's index would need an estimate of the matches, and the n-grams of
    // one word are far from independent (an estate name and its phase): a wrong guess walks
    // the whole index, while the postings' cost is bounded by MAX_DRIVER_POSTINGS.
    Ok(TitlePlan { grams, dense: driver > MAX_DRIVER_POSTINGS })
}

/// `FROM` and the start of `WHERE` of a house query: the houses alone, or reached from the
/// first n-gram's postings. STRAIGHT_JOIN keeps that order: the postings are bounded, the
/// houses are not. The caller appends `AND ...` conditions.
pub fn push_from(qb: &mut QueryBuilder<'_, MySql>, grams: &[String]) {
    let Some((driver, rest)) = grams.split_first() else {
        qb.push(" FROM houses WHERE 1=1");
        return;
    };
    qb.push(" FROM house_title_grams g0");
    for (n, g) in rest.iter().enumerate() {
        let a = format!("g{}", n + 1);
        qb.push(format!(" STRAIGHT_JOIN house_title_grams {a} ON {a}.gram = "))
            .push_bind(g.clone())
            .push(format!(" AND {a}.house_id = g0.house_id"));
    }
    qb.push(" STRAIGHT_JOIN houses ON houses.id = g0.house_id");
    qb.push(" WHERE g0.gram = ").push_bind(driver.clone());
}

/// Replace the n-grams of one house (in the caller's transaction).
pub async fn index_house(conn: &mut MySqlConnection, m: &Metrics, id: u32, title: &str) -> Result<(), ApiError> {
    m.time_query(
        "houses_title_unindex",
        sqlx::query("DELETE FROM house_title_grams WHERE house_id = ?").bind(id).execute(&mut *conn),
    )
    .await
    .context_api("Failed to drop the title's index entries")?;
    insert_grams(conn, m, &[(id, title.to_string())]).await
}

/// Insert the n-grams of `houses` (ignoring ones the collation already holds for that house).
pub async fn insert_grams(conn: &mut MySqlConnection, m: &Metrics, houses: &[(u32, String)]) -> Result<(), ApiError> {
    let rows: Vec<(String, u32)> =
        houses.iter().flat_map(|(id, title)| grams(title).into_iter().map(move |g| (g, *id))).collect();
    // A bind limit of 65,535 placeholders per statement.
    for chunk in rows.chunks(20_000) {
        let mut qb: QueryBuilder<MySql> = QueryBuilder::new("INSERT IGNORE INTO house_title_grams (gram, house_id) ");
        qb.push_values(chunk, |mut b, (g, id)| {
            b.push_bind(g.clone()).push_bind(*id);
        });
        m.time_query("houses_title_index", qb.build().execute(&mut *conn))
            .await
            .context_api("Failed to index house titles")?;
    }
    Ok(())
}

/// Rebuild the whole index from `houses.title`, one id range per transaction (a reader sees
/// each range either before or after, never half-indexed). Returns the houses indexed.
pub async fn reindex(db: &MySqlPool, m: &Metrics, batch: u32) -> anyhow::Result<u64> {
    use anyhow::Context;
    let max_id: Option<u32> = sqlx::query_scalar("SELECT MAX(id) FROM houses").fetch_one(db).await?;
    let max_id = max_id.unwrap_or(0);
    let started = Instant::now();
    let (mut from, mut done, mut last_report) = (1u32, 0u64, 0u32);
    while from <= max_id {
        let to = from.saturating_add(batch - 1).min(max_id);
        let mut tx = db.begin().await.context("Failed to begin a reindex batch")?;
        // Lock the range's rows so a concurrent title edit waits for this batch (and then
        // re-indexes its house itself).
        let read =
            sqlx::query_as("SELECT id, title FROM houses WHERE id BETWEEN ? AND ? FOR UPDATE").bind(from).bind(to);
        let houses: Vec<(u32, String)> = m
            .time_query("search_reindex_read", read.fetch_all(&mut *tx))
            .await
            .context("Failed to read a range of titles")?;
        let clear = sqlx::query("DELETE FROM house_title_grams WHERE house_id BETWEEN ? AND ?").bind(from).bind(to);
        m.time_query("search_reindex_clear", clear.execute(&mut *tx))
            .await
            .context("Failed to clear a range of the title index")?;
        insert_grams(&mut tx, m, &houses).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        tx.commit().await.context("Failed to commit a reindex batch")?;
        done += houses.len() as u64;
        if to == max_id || to / (max_id / 20).max(1) != last_report {
            last_report = to / (max_id / 20).max(1);
            tracing::info!(
                houses = done,
                up_to_id = to,
                of_id = max_id,
                seconds = started.elapsed().as_secs_f64(),
                "search reindex: {}%",
                u64::from(to) * 100 / u64::from(max_id.max(1))
            );
        }
        from = match to.checked_add(1) {
            Some(n) => n,
            None => break,
        };
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_indexed_by_bigrams_and_trigrams_within_words() {
        assert_eq!(grams("锦绣花园 一室"), ["锦绣", "绣花", "花园", "锦绣花", "绣花园", "一室"]);
        assert_eq!(grams("ab ab"), ["ab"]);
        assert!(grams("a b 室").is_empty());
        assert_eq!(grams("  45㎡\t朝南 "), ["45", "5㎡", "45㎡", "朝南"]);
    }

    #[test]
    fn terms_are_looked_up_by_trigrams_or_a_two_character_word() {
        assert_eq!(query_grams("锦绣花园 一室"), ["锦绣花", "绣花园", "一室"]);
        assert_eq!(query_grams("园 a"), Vec::<String>::new());
    }

    #[test]
    fn every_lookup_gram_of_a_substring_is_indexed_for_the_title() {
        let title = "锦绣花园3期 两室一厅 88㎡ 朝南北";
        let all: BTreeSet<String> = grams(title).into_iter().collect();
        let chars: Vec<char> = title.chars().collect();
        for i in 0..chars.len() {
            for j in i + 1..=chars.len() {
                let sub: String = chars[i..j].iter().collect();
                for g in query_grams(&sub) {
                    assert!(all.contains(&g), "{sub:?} has {g:?}");
                }
            }
        }
    }
}
