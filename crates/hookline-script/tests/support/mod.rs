//! Data APIs shared by the test binaries: a gate that holds a script's data-API call until
//! the test lets it through, and in-memory tables that report each call.
#![allow(dead_code)] // each test binary uses its own part

use std::sync::Arc;

use hookline::BoxFuture;
use hookline_script::{FindQuery, MemoryTables, Record, TableApi, TableError};
use serde_json::Value;
use tokio::sync::{Semaphore, mpsc};

/// A data API whose `find` waits until the test lets it through, and says when it was entered.
pub struct Gate {
    entered: mpsc::UnboundedSender<()>,
    open: Arc<Semaphore>,
}

impl Gate {
    pub fn new() -> (Self, mpsc::UnboundedReceiver<()>, Arc<Semaphore>) {
        let (entered, seen) = mpsc::unbounded_channel();
        let open = Arc::new(Semaphore::new(0));
        (
            Gate {
                entered,
                open: open.clone(),
            },
            seen,
            open,
        )
    }
}

impl TableApi for Gate {
    fn find<'a>(
        &'a self,
        _: &'a str,
        _: FindQuery,
    ) -> BoxFuture<'a, Result<Vec<Record>, TableError>> {
        Box::pin(async move {
            let _ = self.entered.send(());
            let permit = self
                .open
                .acquire()
                .await
                .map_err(|e| TableError::Backend(e.into()))?;
            permit.forget();
            Ok(vec![Record::from_iter([("passed", true)])])
        })
    }
    fn create<'a>(
        &'a self,
        table: &'a str,
        _: Record,
    ) -> BoxFuture<'a, Result<Record, TableError>> {
        Box::pin(async move { Err(TableError::UnknownTable(table.to_string())) })
    }
    fn update<'a>(
        &'a self,
        table: &'a str,
        _: Value,
        _: Record,
    ) -> BoxFuture<'a, Result<Record, TableError>> {
        Box::pin(async move { Err(TableError::UnknownTable(table.to_string())) })
    }
    fn delete<'a>(&'a self, table: &'a str, _: Value) -> BoxFuture<'a, Result<Record, TableError>> {
        Box::pin(async move { Err(TableError::UnknownTable(table.to_string())) })
    }
}

/// In-memory tables that also report each call (by table name).
pub struct Signalling {
    calls: mpsc::UnboundedSender<String>,
    tables: MemoryTables,
}

impl Signalling {
    pub fn new(calls: mpsc::UnboundedSender<String>, tables: MemoryTables) -> Self {
        Signalling { calls, tables }
    }
}

impl TableApi for Signalling {
    fn find<'a>(
        &'a self,
        table: &'a str,
        query: FindQuery,
    ) -> BoxFuture<'a, Result<Vec<Record>, TableError>> {
        let _ = self.calls.send(table.to_string());
        self.tables.find(table, query)
    }
    fn create<'a>(
        &'a self,
        table: &'a str,
        data: Record,
    ) -> BoxFuture<'a, Result<Record, TableError>> {
        let _ = self.calls.send(table.to_string());
        self.tables.create(table, data)
    }
    fn update<'a>(
        &'a self,
        table: &'a str,
        id: Value,
        data: Record,
    ) -> BoxFuture<'a, Result<Record, TableError>> {
        let _ = self.calls.send(table.to_string());
        self.tables.update(table, id, data)
    }
    fn delete<'a>(
        &'a self,
        table: &'a str,
        id: Value,
    ) -> BoxFuture<'a, Result<Record, TableError>> {
        let _ = self.calls.send(table.to_string());
        self.tables.delete(table, id)
    }
}
