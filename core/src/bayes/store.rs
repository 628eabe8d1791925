//! Where learned counts live: the `Store` trait, so that the classifier
//! does not know whether they sit in SQLite or in a shared network store.

use super::expire::{ExpirePolicy, ExpireReport};
use super::tokenizer::Key;

/// Errors of a store. Scans treat any of them as "no Bayes this time".
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("bayes database is locked by another writer")]
    Locked,
    #[error("bayes database: {0}")]
    Db(String),
    #[error("bayes database: {0}")]
    Io(#[from] std::io::Error),
    #[error("bayes backup: line {line}: {message}")]
    Backup { line: usize, message: String },
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Counts of one token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TokenCounts {
    pub spam: u64,
    pub ham: u64,
    /// Last time (Unix seconds) the token was learned or proved useful.
    pub atime: i64,
}

/// The non-token data `sa-learn --dump magic` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Magic {
    pub nspam: u64,
    pub nham: u64,
    pub ntokens: u64,
    pub oldest_atime: i64,
    pub newest_atime: i64,
    pub last_journal_sync: i64,
    pub last_expire: i64,
    pub last_expire_atime_delta: i64,
    pub last_expire_reduce: u64,
    /// When an expiry last gave up half-way (SpamAssassin's running-expire
    /// mark, which holds back automatic runs for five minutes), or 0.
    pub running_expire: i64,
}

/// What happened to a learn or forget request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LearnResult {
    /// Counted now.
    Learned,
    /// Already learned as this class: nothing changed.
    AlreadyLearned,
    /// Forgotten now.
    Forgotten,
    /// Forget of a message that was never learned.
    NotLearned,
}

/// A callback over tokens: key, counts, token text when known.
pub type TokenVisitor<'a> = dyn FnMut(Key, TokenCounts, Option<&[u8]>) + 'a;

/// One message to learn or forget: its seen-database ids (the first is the
/// one recorded) and its token keys.
#[derive(Debug, Clone)]
pub struct LearnItem {
    pub msgids: Vec<String>,
    pub keys: Vec<Key>,
    /// The token text of each key (for `--dump`), or empty.
    pub texts: Vec<Vec<u8>>,
    /// When the message was received (token atime).
    pub atime: i64,
    /// Leave a message learned as the other class alone (auto-learning).
    pub no_relearn: bool,
}

/// A Bayes database: token counts, message counts, seen message ids.
///
/// Writes are transactional per call: a crash leaves every message either
/// wholly learned or not learned at all.
pub trait Store: Send + Sync {
    /// Learned spam and ham message counts.
    fn nspam_nham(&self) -> Result<(u64, u64)>;
    /// Counts for each key, in order (None for unknown tokens).
    fn tokens(&self, keys: &[Key]) -> Result<Vec<Option<TokenCounts>>>;
    /// Mark tokens as useful at `atime`. Best effort: skipped (Ok) when a
    /// writer holds the database, so scans never wait.
    fn touch(&self, keys: &[Key], atime: i64) -> Result<()>;
    /// Learn (`Some(true)` spam, `Some(false)` ham) or forget (`None`) a
    /// batch of messages in one transaction; one result per item.
    fn learn_batch(&self, items: &[(LearnItem, Option<bool>)]) -> Result<Vec<LearnResult>>;
    /// `learn_batch` into the journal (`bayes_learn_to_journal`): counted
    /// at the next `sync`. Stores without a journal (Redis, as in
    /// SpamAssassin) write at once.
    fn learn_batch_journal(&self, items: &[(LearnItem, Option<bool>)]) -> Result<Vec<LearnResult>> {
        self.learn_batch(items)
    }
    /// Non-token data.
    fn magic(&self) -> Result<Magic>;
    /// Every token, in key order, with its text when known.
    fn for_each_token(&self, f: &mut TokenVisitor<'_>) -> Result<()>;
    /// Every seen message id with its class (`'s'` or `'h'`).
    fn for_each_seen(&self, f: &mut dyn FnMut(&str, char)) -> Result<()>;
    /// Remove everything.
    fn clear(&self) -> Result<()>;
    /// Replace the whole content (used by `--restore`).
    fn restore(
        &self,
        nspam: u64,
        nham: u64,
        tokens: &mut dyn Iterator<Item = (Key, TokenCounts)>,
        seen: &[(String, char)],
    ) -> Result<()>;
    /// Expire old tokens if `policy` says an expiry is due, as one
    /// transaction (see `expire`). Stores whose entries expire by
    /// themselves (Redis TTLs) do nothing.
    fn expire(&self, _policy: &ExpirePolicy, _now: i64) -> Result<ExpireReport> {
        Ok(ExpireReport::default())
    }
    /// Whether tokens carry atimes that `expire` and `sync` maintain
    /// (false for stores that expire entries by themselves).
    fn keeps_atimes(&self) -> bool {
        false
    }
    /// Apply the journal (learning journaled by `learn_batch_journal`,
    /// then the token touches recorded by scans): SpamAssassin's "unique
    /// entries" and "total entries", or None when it was empty.
    fn sync(&self, _now: i64) -> Result<Option<(u64, u64)>> {
        Ok(None)
    }
    /// Whether the recorded touches are due for a sync: more than
    /// `max_bytes` of SpamAssassin journal, or a day since the last sync.
    fn sync_due(&self, _max_bytes: u64, _now: i64) -> Result<bool> {
        Ok(false)
    }
}
