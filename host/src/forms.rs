//! Host-side validation of service forms: every typed field is normalized (Persian and
//! Arabic digits, separators) and validated before any adapter runs, so adapters receive
//! only canonical values and citizens get per-field messages in both languages.

use std::collections::BTreeMap;

use panjereh_formats::{Kind, normalize};

use crate::runtime::bindings::{Field, FieldType, Value};
use crate::text::{Bilingual, FieldProblem};

/// Most fields a submission may carry.
const MAX_FIELDS: usize = 64;

/// The format kind the host validates a field type with; `None` for choices.
fn kind_of(field_type: &FieldType) -> Option<Kind> {
    Some(match field_type {
        FieldType::Text => Kind::Text,
        FieldType::LongText => Kind::LongText,
        FieldType::Number => Kind::Number,
        FieldType::NationalId => Kind::NationalId,
        FieldType::LegalId => Kind::LegalId,
        FieldType::Mobile => Kind::Mobile,
        FieldType::PostalCode => Kind::PostalCode,
        FieldType::BillId => Kind::BillId,
        FieldType::PaymentId => Kind::PaymentId,
        FieldType::Sheba => Kind::Sheba,
        FieldType::Plate => Kind::Plate,
        FieldType::JalaliDate => Kind::JalaliDate,
        FieldType::Choice(_) => return None,
    })
}

/// Validates a submission against a service's fields. Values may be JSON strings or
/// numbers. Returns the normalized values in field order, or every problem found.
pub fn validate(
    fields: &[Field],
    input: &BTreeMap<String, serde_json::Value>,
) -> Result<Vec<Value>, Vec<FieldProblem>> {
    let mut problems = Vec::new();
    if input.len() > MAX_FIELDS {
        problems.push(problem("", "تعداد فیلدها بیش از حد مجاز است", "too many fields"));
        return Err(problems);
    }
    for name in input.keys() {
        if !fields.iter().any(|f| &f.name == name) {
            problems.push(FieldProblem {
                field: name.clone(),
                message: Bilingual::new(
                    format!("این خدمت فیلدی به نام «{name}» ندارد"),
                    format!("this service has no field `{name}`"),
                ),
            });
        }
    }

    let mut values = Vec::with_capacity(fields.len());
    for field in fields {
        let raw = match input.get(&field.name) {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(serde_json::Value::Number(n)) => Some(n.to_string()),
            Some(_) => {
                problems.push(problem(
                    &field.name,
                    "مقدار باید متن یا عدد باشد",
                    "the value must be a string or a number",
                ));
                continue;
            }
        };
        let raw = raw.filter(|s| !s.trim().is_empty());
        let Some(raw) = raw else {
            if field.required {
                problems.push(FieldProblem {
                    field: field.name.clone(),
                    message: Bilingual::new(
                        format!("«{}» را وارد کنید", field.label.fa),
                        format!("{} is required", field.label.en),
                    ),
                });
            }
            continue;
        };
        let normalized = match (&field.kind, kind_of(&field.kind)) {
            (_, Some(kind)) => normalize(kind, &raw).map_err(|e| (e.fa, e.en)),
            (FieldType::Choice(choices), None) => {
                let value = raw.trim();
                if choices.iter().any(|c| c.id == value) {
                    Ok(value.to_owned())
                } else {
                    Err(("یکی از گزینه‌های فهرست را انتخاب کنید".into(), "choose one of the listed options".into()))
                }
            }
            (_, None) => unreachable!("only choices have no format kind"),
        };
        match normalized {
            Ok(value) => values.push(Value { name: field.name.clone(), value }),
            Err((fa, en)) => problems.push(FieldProblem { field: field.name.clone(), message: Bilingual::new(fa, en) }),
        }
    }
    if problems.is_empty() { Ok(values) } else { Err(problems) }
}

fn problem(field: &str, fa: &'static str, en: &'static str) -> FieldProblem {
    FieldProblem { field: field.to_owned(), message: Bilingual::new(fa, en) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::bindings::{Choice, Text};

    fn text(s: &str) -> Text {
        Text { fa: s.into(), en: s.into() }
    }

    fn field(name: &str, kind: FieldType, required: bool) -> Field {
        Field { name: name.into(), label: text(name), help: None, kind, required }
    }

    fn input(pairs: &[(&str, serde_json::Value)]) -> BTreeMap<String, serde_json::Value> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect()
    }

    #[test]
    fn normalizes_persian_digits_and_reports_every_field() {
        let fields = [
            field("nid", FieldType::NationalId, true),
            field("mobile", FieldType::Mobile, true),
            field("kind", FieldType::Choice(vec![Choice { id: "a".into(), label: text("a") }]), false),
        ];
        let ok =
            validate(&fields, &input(&[("nid", "۰۴۹۹۳۷۰۸۹۹".into()), ("mobile", "+989121234567".into())])).unwrap();
        assert_eq!(ok[0].value, "0499370899");
        assert_eq!(ok[1].value, "09121234567");
        assert_eq!(ok.len(), 2, "an optional empty field is left out");

        let errors =
            validate(&fields, &input(&[("nid", "1234567890".into()), ("kind", "b".into()), ("extra", "x".into())]))
                .unwrap_err();
        let names: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(names, ["extra", "nid", "mobile", "kind"]);
    }
}
