//! An adapter built for `panjereh:adapter@1.0.0`; the host must refuse it at load.

wit_bindgen::generate!({ world: "agency-adapter", path: "wit" });

struct Future;

impl exports::panjereh::adapter::adapter::Guest for Future {
    fn describe() -> String {
        "from the future".into()
    }
}

export!(Future);
