//! Python binding of the `ct_parser` crate: it converts values and owns no parsing logic.

use std::sync::{Mutex, MutexGuard};

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::MutexExt;
use pyo3::types::{PyBytes, PyList, PyString};
use pyo3::PyClass;
use pyo3::{PyTraverseError, PyVisit};

fn str_repr(py: Python<'_>, s: &str) -> PyResult<String> {
    Ok(PyString::new(py, s).repr()?.to_string())
}

fn bytes_repr(py: Python<'_>, b: &[u8]) -> PyResult<String> {
    Ok(PyBytes::new(py, b).repr()?.to_string())
}

const _: () = assert!(ct_parser::DEFAULT_MAX_LINE_LEN == 4096);

/// Incremental CTP01 parser; `feed` returns what the bytes completed, keeping the tail.
#[pyclass(module = "ct_parser", name = "Parser", frozen)]
struct Parser {
    // Frozen for Python (no attribute can be set) while the stream state still advances.
    inner: Mutex<ct_parser::Parser>,
}

impl Parser {
    fn lock(&self, py: Python<'_>) -> PyResult<MutexGuard<'_, ct_parser::Parser>> {
        self.inner
            .lock_py_attached(py)
            .map_err(|_| PyRuntimeError::new_err("parser state lost to an earlier panic"))
    }
}

#[pymethods]
impl Parser {
    // A literal so that Python's signature shows it; the const assertion keeps it in step.
    #[new]
    #[pyo3(signature = (max_line_len = 4096))]
    fn new(max_line_len: usize) -> PyResult<Self> {
        if max_line_len == 0 {
            return Err(PyValueError::new_err("max_line_len must be at least 1"));
        }
        Ok(Parser {
            inner: Mutex::new(ct_parser::Parser::new(max_line_len)),
        })
    }

    fn feed(&self, py: Python<'_>, data: &[u8]) -> PyResult<Batch> {
        let batch = self.lock(py)?.feed(data);
        Batch::convert(py, batch)
    }

    fn finish(&self, py: Python<'_>) -> PyResult<Batch> {
        let batch = self.lock(py)?.finish();
        Batch::convert(py, batch)
    }

    #[getter]
    fn pending(&self, py: Python<'_>) -> PyResult<usize> {
        Ok(self.lock(py)?.pending())
    }

    #[getter]
    fn max_line_len(&self, py: Python<'_>) -> PyResult<usize> {
        Ok(self.lock(py)?.max_line_len())
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let p = self.lock(py)?;
        Ok(format!(
            "Parser(max_line_len={}, pending={})",
            p.max_line_len(),
            p.pending()
        ))
    }
}

/// What one `feed` or `finish` produced, each list in stream order.
#[pyclass(module = "ct_parser", name = "Batch", frozen)]
struct Batch {
    #[pyo3(get)]
    reads: Py<PyList>,
    #[pyo3(get)]
    sessions: Py<PyList>,
    #[pyo3(get)]
    errors: Py<PyList>,
}

/// A list of new objects that the cycle collector does not track.
///
/// `Read`, `SessionLine` and `ParseError` hold only Rust data, so they can never be part
/// of a reference cycle; tracked, they would make every collection triggered while a
/// batch is built walk the reads made so far (CPython untracks tuples of plain values
/// for the same reason).
fn untracked_list<'py, T: PyClass>(
    py: Python<'py>,
    items: impl Iterator<Item = T>,
) -> PyResult<Bound<'py, PyList>>
where
    PyClassInitializer<T>: From<T>,
{
    let list = PyList::empty(py);
    for item in items {
        let object = Bound::new(py, item)?;
        // SAFETY: `object` is a live GC object that we own; untracking any GC object is
        // allowed, and the untrack done again at deallocation is a no-op for it.
        unsafe { pyo3::ffi::PyObject_GC_UnTrack(object.as_ptr().cast()) };
        list.append(object)?;
    }
    Ok(list)
}

impl Batch {
    fn convert(py: Python<'_>, b: ct_parser::Batch) -> PyResult<Self> {
        Ok(Batch {
            reads: untracked_list(py, b.reads.into_iter().map(Read))?.unbind(),
            sessions: untracked_list(py, b.sessions.into_iter().map(SessionLine))?.unbind(),
            errors: untracked_list(py, b.errors.into_iter().map(ParseError))?.unbind(),
        })
    }
}

#[pymethods]
impl Batch {
    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "Batch(reads={}, sessions={}, errors={})",
            self.reads.bind(py).len(),
            self.sessions.bind(py).len(),
            self.errors.bind(py).len()
        )
    }

    // The lists are ordinary mutable lists, so a caller can build a cycle through them.
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.reads)?;
        visit.call(&self.sessions)?;
        visit.call(&self.errors)
    }
}

/// One chip read.
#[pyclass(module = "ct_parser", name = "Read", frozen, eq, hash)]
#[derive(PartialEq, Eq, Hash)]
struct Read(ct_parser::Read);

#[pymethods]
impl Read {
    #[getter]
    fn line(&self) -> u64 {
        self.0.line
    }

    #[getter]
    fn format<'py>(&self, py: Python<'py>) -> Bound<'py, PyString> {
        // Interned: read once per read by every consumer, and there are only three.
        match self.0.format {
            ct_parser::Format::Ct33 => intern!(py, "CT01_33"),
            ct_parser::Format::Ct13 => intern!(py, "CT01_13"),
            ct_parser::Format::To => intern!(py, "TO"),
        }
        .clone()
    }

    #[getter]
    fn seq(&self) -> u64 {
        self.0.seq
    }

    #[getter]
    fn location(&self) -> &str {
        self.0.location()
    }

    #[getter]
    fn tag(&self) -> &str {
        self.0.tag()
    }

    #[getter]
    fn time_raw(&self) -> &str {
        self.0.time_raw()
    }

    #[getter]
    fn time_kind(&self) -> u8 {
        self.0.time_kind as u8
    }

    #[getter]
    fn time_us(&self) -> i64 {
        self.0.time_us
    }

    #[getter]
    fn lap(&self) -> u32 {
        self.0.lap
    }

    #[getter]
    fn reader(&self) -> &str {
        self.0.reader()
    }

    #[getter]
    fn antenna(&self) -> u32 {
        self.0.antenna
    }

    #[getter]
    fn raw<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.0.raw())
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let r = &self.0;
        Ok(format!(
            "Read(line={}, format='{}', seq={}, location={}, tag={}, time_raw={}, \
             time_kind={}, time_us={}, lap={}, reader={}, antenna={})",
            r.line,
            r.format.as_str(),
            r.seq,
            str_repr(py, r.location())?,
            str_repr(py, r.tag())?,
            str_repr(py, r.time_raw())?,
            r.time_kind as u8,
            r.time_us,
            r.lap,
            str_repr(py, r.reader())?,
            r.antenna,
        ))
    }
}

/// A CTP01 protocol line: greeting, header, setting, ack, ping, err or command.
#[pyclass(module = "ct_parser", name = "SessionLine", frozen, eq, hash)]
#[derive(PartialEq, Eq, Hash)]
struct SessionLine(ct_parser::SessionLine);

#[pymethods]
impl SessionLine {
    #[getter]
    fn line(&self) -> u64 {
        self.0.line
    }

    #[getter]
    fn kind(&self) -> &'static str {
        self.0.kind.as_str()
    }

    #[getter]
    fn fields<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, &self.0.fields)
    }

    #[getter]
    fn raw<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.0.raw.as_bytes())
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let fields = self
            .0
            .fields
            .iter()
            .map(|f| str_repr(py, f))
            .collect::<PyResult<Vec<_>>>()?;
        Ok(format!(
            "SessionLine(line={}, kind='{}', fields=[{}])",
            self.0.line,
            self.0.kind.as_str(),
            fields.join(", ")
        ))
    }
}

/// A line that could not be parsed, returned as a value.
#[pyclass(module = "ct_parser", name = "ParseError", frozen, eq, hash)]
#[derive(PartialEq, Eq, Hash)]
struct ParseError(ct_parser::ParseError);

#[pymethods]
impl ParseError {
    #[getter]
    fn line(&self) -> u64 {
        self.0.line
    }

    #[getter]
    fn reason(&self) -> &'static str {
        self.0.reason.as_str()
    }

    #[getter]
    fn detail(&self) -> &str {
        &self.0.detail
    }

    #[getter]
    fn raw<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.0.raw)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "ParseError(line={}, reason='{}', detail={}, raw={})",
            self.0.line,
            self.0.reason.as_str(),
            str_repr(py, &self.0.detail)?,
            bytes_repr(py, &self.0.raw)?,
        ))
    }
}

#[pymodule(name = "_native")]
fn ct_parser_py(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Parser>()?;
    m.add_class::<Batch>()?;
    m.add_class::<Read>()?;
    m.add_class::<SessionLine>()?;
    m.add_class::<ParseError>()?;
    m.add("TIME_OF_DAY", ct_parser::TimeKind::TimeOfDay as u8)?;
    m.add("LOCAL", ct_parser::TimeKind::Local as u8)?;
    m.add("UNIX", ct_parser::TimeKind::Unix as u8)?;
    Ok(())
}
