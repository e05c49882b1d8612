//! The statements of [`Db::write`](super::Db::write)'s work, run the same way on both
//! back-ends: on PostgreSQL through sqlx, on SQLite on the group committer's own thread,
//! straight on its connection (see [`super::group`]).
//!
//! sqlx's SQLite driver runs each statement on a worker thread and hands every statement
//! and every row across threads: a context switch each way, several per write. Measured
//! under load, those hand-offs took more of the host's time than SQLite's own work. The
//! group committer instead runs a whole group's statements on one thread, one hand-off for
//! the group. Work is written once against [`Tx`], with the same SQL text (`$1, $2, ...`)
//! and the same values as everywhere else.

use std::borrow::Cow;

use futures::future::BoxFuture;
use sqlx::Row as _;
use sqlx::any::AnyRow;
use sqlx::error::{DatabaseError, ErrorKind};

/// A value bound to a statement's `$n`.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
    /// A missing text: PostgreSQL is told it is `NULL` text, so only text options make one.
    Null,
}

impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::Int(v)
    }
}

impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Arg::Text(v.to_owned())
    }
}

impl From<String> for Arg {
    fn from(v: String) -> Self {
        Arg::Text(v)
    }
}

impl From<&String> for Arg {
    fn from(v: &String) -> Self {
        Arg::Text(v.clone())
    }
}

impl From<&[u8]> for Arg {
    fn from(v: &[u8]) -> Self {
        Arg::Blob(v.to_vec())
    }
}

impl From<&Vec<u8>> for Arg {
    fn from(v: &Vec<u8>) -> Self {
        Arg::Blob(v.clone())
    }
}

impl From<Option<&str>> for Arg {
    fn from(v: Option<&str>) -> Self {
        v.map_or(Arg::Null, Into::into)
    }
}

impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Self {
        v.map_or(Arg::Null, Arg::Text)
    }
}

impl From<&Option<String>> for Arg {
    fn from(v: &Option<String>) -> Self {
        v.as_deref().into()
    }
}

/// A row a statement returned.
pub enum Row {
    Any(AnyRow),
    Values(Vec<Arg>),
}

impl Row {
    /// Column `i` as an integer.
    pub fn int(&self, i: usize) -> sqlx::Result<i64> {
        match self {
            Row::Any(row) => row.try_get(i),
            Row::Values(values) => match values.get(i) {
                Some(Arg::Int(v)) => Ok(*v),
                other => Err(decode(i, "an integer", other)),
            },
        }
    }

    /// Column `i` as text.
    pub fn text(&self, i: usize) -> sqlx::Result<String> {
        match self {
            Row::Any(row) => row.try_get(i),
            Row::Values(values) => match values.get(i) {
                Some(Arg::Text(v)) => Ok(v.clone()),
                other => Err(decode(i, "text", other)),
            },
        }
    }
}

fn decode(index: usize, wanted: &str, found: Option<&Arg>) -> sqlx::Error {
    let source = format!("expected {wanted}, found {found:?}").into();
    sqlx::Error::ColumnDecode { index: index.to_string(), source }
}

/// Where work runs its statements: a transaction on either back-end.
pub trait Tx: Send {
    /// Runs a statement; the rows it changed.
    fn run_statement<'a>(&'a mut self, sql: &'a str, args: Vec<Arg>) -> BoxFuture<'a, sqlx::Result<u64>>;

    /// Runs a statement; its first row, if any.
    fn first_row<'a>(&'a mut self, sql: &'a str, args: Vec<Arg>) -> BoxFuture<'a, sqlx::Result<Option<Row>>>;

    /// Runs a statement; every row it returned.
    fn all_rows<'a>(&'a mut self, sql: &'a str, args: Vec<Arg>) -> BoxFuture<'a, sqlx::Result<Vec<Row>>>;
}

/// A statement and its values, built like sqlx's `query(..).bind(..)`.
#[must_use = "a query does nothing until it is executed"]
pub struct Query<'q> {
    sql: &'q str,
    args: Vec<Arg>,
}

/// A statement to run on a [`Tx`].
pub fn query(sql: &str) -> Query<'_> {
    Query { sql, args: Vec::new() }
}

impl<'q> Query<'q> {
    /// Binds the next `$n`.
    pub fn bind(mut self, value: impl Into<Arg>) -> Self {
        self.args.push(value.into());
        self
    }

    /// The statement and its values.
    pub fn into_parts(self) -> (&'q str, Vec<Arg>) {
        (self.sql, self.args)
    }

    /// Runs it: the rows it changed.
    pub async fn execute(self, tx: &mut dyn Tx) -> sqlx::Result<u64> {
        tx.run_statement(self.sql, self.args).await
    }

    /// Runs it: its first row, if any.
    pub async fn fetch_optional(self, tx: &mut dyn Tx) -> sqlx::Result<Option<Row>> {
        tx.first_row(self.sql, self.args).await
    }

    /// Runs it: its first row, which must be there.
    pub async fn fetch_one(self, tx: &mut dyn Tx) -> sqlx::Result<Row> {
        tx.first_row(self.sql, self.args).await?.ok_or(sqlx::Error::RowNotFound)
    }

    /// Runs it: every row it returned.
    pub async fn fetch_all(self, tx: &mut dyn Tx) -> sqlx::Result<Vec<Row>> {
        tx.all_rows(self.sql, self.args).await
    }
}

/// The `VALUES` list of a multi-row `INSERT`: `($1, .., $columns), (..)`, `rows` times.
pub fn placeholders(rows: usize, columns: usize) -> String {
    let row = |r: usize| {
        let each: Vec<String> = (1..=columns).map(|c| format!("${}", r * columns + c)).collect();
        format!("({})", each.join(", "))
    };
    (0..rows).map(row).collect::<Vec<_>>().join(", ")
}

fn any_query<'q>(sql: &'q str, args: Vec<Arg>) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    let mut query = sqlx::query(sql);
    for arg in args {
        query = match arg {
            Arg::Int(v) => query.bind(v),
            Arg::Real(v) => query.bind(v),
            Arg::Text(v) => query.bind(v),
            Arg::Blob(v) => query.bind(v),
            Arg::Null => query.bind(None::<String>),
        };
    }
    query
}

impl Tx for sqlx::AnyConnection {
    fn run_statement<'a>(&'a mut self, sql: &'a str, args: Vec<Arg>) -> BoxFuture<'a, sqlx::Result<u64>> {
        Box::pin(async move { Ok(any_query(sql, args).execute(self).await?.rows_affected()) })
    }

    fn first_row<'a>(&'a mut self, sql: &'a str, args: Vec<Arg>) -> BoxFuture<'a, sqlx::Result<Option<Row>>> {
        Box::pin(async move { Ok(any_query(sql, args).fetch_optional(self).await?.map(Row::Any)) })
    }

    fn all_rows<'a>(&'a mut self, sql: &'a str, args: Vec<Arg>) -> BoxFuture<'a, sqlx::Result<Vec<Row>>> {
        Box::pin(async move { Ok(any_query(sql, args).fetch_all(self).await?.into_iter().map(Row::Any).collect()) })
    }
}

/// A SQLite connection used directly, on the thread that owns it: each statement runs
/// when called, so the futures it returns are ready at once.
pub struct Direct<'c>(pub &'c mut rusqlite::Connection);

impl Direct<'_> {
    /// The statement, prepared once per connection, with `args` bound to `$1, $2, ...` by
    /// name (a `$n` may appear twice, or not in the order of the numbers).
    fn prepare(&self, sql: &str, args: Vec<Arg>) -> rusqlite::Result<rusqlite::CachedStatement<'_>> {
        let mut statement = self.0.prepare_cached(sql)?;
        for (i, arg) in args.into_iter().enumerate() {
            let Some(index) = statement.parameter_index(&format!("${}", i + 1))? else { continue };
            match arg {
                Arg::Int(v) => statement.raw_bind_parameter(index, v)?,
                Arg::Real(v) => statement.raw_bind_parameter(index, v)?,
                Arg::Text(v) => statement.raw_bind_parameter(index, v)?,
                Arg::Blob(v) => statement.raw_bind_parameter(index, v)?,
                Arg::Null => statement.raw_bind_parameter(index, rusqlite::types::Null)?,
            }
        }
        Ok(statement)
    }

    fn run(&self, sql: &str, args: Vec<Arg>) -> rusqlite::Result<u64> {
        let mut statement = self.prepare(sql, args)?;
        let mut rows = statement.raw_query();
        while rows.next()?.is_some() {}
        drop(rows);
        Ok(self.0.changes())
    }

    /// Runs the statement to its end (an `INSERT ... RETURNING` of several rows, say),
    /// keeping at most `keep` of its rows.
    fn rows(&self, sql: &str, args: Vec<Arg>, keep: usize) -> rusqlite::Result<Vec<Row>> {
        use rusqlite::types::ValueRef;
        let mut statement = self.prepare(sql, args)?;
        let columns = statement.column_count();
        let mut rows = statement.raw_query();
        let mut kept = Vec::new();
        while let Some(row) = rows.next()? {
            if kept.len() == keep {
                continue;
            }
            let mut values = Vec::with_capacity(columns);
            for i in 0..columns {
                values.push(match row.get_ref(i)? {
                    ValueRef::Integer(v) => Arg::Int(v),
                    ValueRef::Text(v) => Arg::Text(String::from_utf8_lossy(v).into_owned()),
                    ValueRef::Blob(v) => Arg::Blob(v.to_vec()),
                    ValueRef::Null => Arg::Null,
                    ValueRef::Real(v) => Arg::Real(v),
                });
            }
            kept.push(Row::Values(values));
        }
        Ok(kept)
    }
}

impl Tx for Direct<'_> {
    fn run_statement<'a>(&'a mut self, sql: &'a str, args: Vec<Arg>) -> BoxFuture<'a, sqlx::Result<u64>> {
        let done = self.run(sql, args).map_err(into_sqlx);
        Box::pin(std::future::ready(done))
    }

    fn first_row<'a>(&'a mut self, sql: &'a str, args: Vec<Arg>) -> BoxFuture<'a, sqlx::Result<Option<Row>>> {
        let done = self.rows(sql, args, 1).map(|rows| rows.into_iter().next()).map_err(into_sqlx);
        Box::pin(std::future::ready(done))
    }

    fn all_rows<'a>(&'a mut self, sql: &'a str, args: Vec<Arg>) -> BoxFuture<'a, sqlx::Result<Vec<Row>>> {
        let done = self.rows(sql, args, usize::MAX).map_err(into_sqlx);
        Box::pin(std::future::ready(done))
    }
}

/// A SQLite error as sqlx reports one, so that callers tell a constraint from the rest the
/// same way on both paths ([`super::is_unique_violation`]).
pub fn into_sqlx(error: rusqlite::Error) -> sqlx::Error {
    match error {
        rusqlite::Error::SqliteFailure(failure, message) => {
            let message = message.unwrap_or_else(|| failure.to_string());
            sqlx::Error::Database(Box::new(SqliteError { code: failure.extended_code, message }))
        }
        other => sqlx::Error::Io(std::io::Error::other(other.to_string())),
    }
}

/// An error SQLite returned, with its extended result code.
#[derive(Debug, thiserror::Error)]
#[error("(code: {code}) {message}")]
pub struct SqliteError {
    code: std::ffi::c_int,
    message: String,
}

impl DatabaseError for SqliteError {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Owned(self.code.to_string()))
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> ErrorKind {
        use rusqlite::ffi;
        match self.code {
            ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => ErrorKind::UniqueViolation,
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => ErrorKind::ForeignKeyViolation,
            ffi::SQLITE_CONSTRAINT_NOTNULL => ErrorKind::NotNullViolation,
            ffi::SQLITE_CONSTRAINT_CHECK => ErrorKind::CheckViolation,
            _ => ErrorKind::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::FutureExt as _;

    use super::*;

    /// The answer of a `Direct` statement, which is there at once.
    fn ready<T>(future: impl std::future::Future<Output = T>) -> T {
        future.now_or_never().expect("a Direct statement's future is ready at once")
    }

    fn connection() -> rusqlite::Connection {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, data BLOB)").unwrap();
        conn
    }

    #[test]
    fn values_bind_by_their_number_and_a_number_may_repeat() {
        let mut conn = connection();
        let mut tx = Direct(&mut conn);
        let inserted = ready(
            query("INSERT INTO t (name, id, data) VALUES ($2, $1, $3)")
                .bind(7)
                .bind("seven")
                .bind(None::<String>)
                .execute(&mut tx),
        )
        .unwrap();
        assert_eq!(inserted, 1);
        let row =
            ready(query("SELECT id, name FROM t WHERE name = $1 AND length($1) = 5").bind("seven").fetch_one(&mut tx))
                .unwrap();
        assert_eq!((row.int(0).unwrap(), row.text(1).unwrap()), (7, "seven".to_owned()));
        assert!(row.text(0).is_err(), "an integer is not read as text");
    }

    #[test]
    fn a_constraint_is_reported_as_sqlx_reports_it() {
        let mut conn = connection();
        let mut tx = Direct(&mut conn);
        let insert = || query("INSERT INTO t (id) VALUES ($1)").bind(1);
        ready(insert().execute(&mut tx)).unwrap();
        let error = ready(insert().execute(&mut tx)).unwrap_err();
        assert!(crate::store::is_unique_violation(&error), "{error}");
    }
}
