//! Splitting a template's output into YAML documents.

use serde_json::Value;

/// One document of a template's output.
pub(crate) struct Document<'a> {
    /// 1-based line in the template's output where the document's text starts.
    pub first_line: usize,
    pub text: &'a str,
}

/// Splits at lines that are exactly `---` (trailing spaces allowed), as YAML streams do. A
/// `---` indented inside a block scalar does not split. Documents that hold only whitespace or
/// comments are kept here and dropped after parsing (they parse to `null`).
pub(crate) fn split(output: &str) -> Vec<Document<'_>> {
    let mut docs = Vec::new();
    let mut start = 0;
    let mut first_line = 1;
    let mut offset = 0;
    for (index, line) in output.split_inclusive('\n').enumerate() {
        if line.trim_end() == "---" {
            docs.push(Document {
                first_line,
                text: &output[start..offset],
            });
            start = offset + line.len();
            first_line = index + 2;
        }
        offset += line.len();
    }
    docs.push(Document {
        first_line,
        text: &output[start..],
    });
    docs
}

/// A parse failure, positioned in the template's output.
pub(crate) struct ParseError {
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

pub(crate) fn parse(doc: &Document<'_>) -> Result<Value, ParseError> {
    if let Some(value) = crate::yaml_reader::from_str(doc.text) {
        #[cfg(debug_assertions)]
        same_as_yaml_serde(doc.text, &value);
        return Ok(value);
    }
    yaml_serde::from_str::<Value>(doc.text).map_err(|e| {
        let location = e.location();
        ParseError {
            line: location.as_ref().map(|l| l.line() + doc.first_line - 1),
            column: location.as_ref().map(|l| l.column()),
            message: e.to_string(),
        }
    })
}

/// Debug builds (every test) check the direct reader against `yaml_serde` on each document.
#[cfg(debug_assertions)]
fn same_as_yaml_serde(text: &str, value: &Value) {
    let expected = yaml_serde::from_str::<Value>(text).map(|v| v.to_string());
    assert_eq!(
        Ok(value.to_string()),
        expected.map_err(|e| e.to_string()),
        "the direct YAML reader and yaml_serde disagree on {text:?}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_separator_lines_only() {
        let out = "a: 1\n---\nb: |\n  ---\n  x\n--- \n\n---\n# only a comment\n";
        let docs = split(out);
        let texts: Vec<_> = docs.iter().map(|d| d.text).collect();
        assert_eq!(
            texts,
            vec!["a: 1\n", "b: |\n  ---\n  x\n", "\n", "# only a comment\n"]
        );
        let lines: Vec<_> = docs.iter().map(|d| d.first_line).collect();
        assert_eq!(lines, vec![1, 3, 7, 9]);
        assert_eq!(parse(&docs[2]).ok(), Some(Value::Null));
        assert_eq!(parse(&docs[3]).ok(), Some(Value::Null));
    }

    #[test]
    fn leading_separator_gives_an_empty_first_document() {
        let docs = split("---\na: 1\n");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].text, "");
    }

    #[test]
    fn parse_errors_point_into_the_output() {
        let docs = split("a: 1\n---\nb: 1\nc: [\n");
        let err = parse(&docs[1]).err().unwrap();
        assert!(err.line.unwrap() >= 3, "{:?}", err.line);
    }
}
