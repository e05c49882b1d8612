//! The catalogue: agencies, Persian-aware search, province and kind filters, and host
//! validation of typed fields against the shared identifier vectors.

use serde_json::{Value, json};

use panjereh_host::store::operators::Role;

use crate::harness::{APPLICANT, Host, UTILITY_BILLS};

const VECTORS: &str = include_str!("../../formats/tests/data/identifiers.json");

fn ids(body: &Value) -> Vec<String> {
    let mut ids: Vec<String> = body["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| format!("{}/{}", s["agency"].as_str().unwrap(), s["id"].as_str().unwrap()))
        .collect();
    ids.sort();
    ids
}

fn query(q: &str) -> String {
    let mut out = String::new();
    for b in q.bytes() {
        if b.is_ascii_alphanumeric() {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[tokio::test]
async fn agencies_are_listed_in_the_requested_language() {
    let host = Host::start(&[APPLICANT, UTILITY_BILLS], "").await;
    let (status, body) = host.get_lang("/api/v1/agencies", "en").await;
    assert_eq!(status, 200);
    let agencies = body["agencies"].as_array().unwrap();
    assert_eq!(agencies.len(), 2);
    let office = agencies.iter().find(|a| a["id"] == "test-office").unwrap();
    assert_eq!(office["name"], "Test office");
    assert_eq!(office["services"], 6);
    let (_, fa) = host.get("/api/v1/agencies").await;
    assert!(fa["agencies"].as_array().unwrap().iter().any(|a| a["name"] == "دفتر آزمون"));
}

#[tokio::test]
async fn persian_search_folds_letters_digits_and_zwnj() {
    let host = Host::start(&[APPLICANT, UTILITY_BILLS], "").await;
    let search = |q: &str| {
        let path = format!("/api/v1/services?q={}", query(q));
        let host = &host;
        async move {
            let (status, body) = host.get(&path).await;
            assert_eq!(status, 200, "{body}");
            ids(&body)
        }
    };
    let library = vec!["test-office/library-card".to_owned()];
    // Arabic kaf (ك) finds the Persian kaf (ک) of «کتابخانه».
    assert_eq!(search("كتاب").await, library);
    assert_eq!(search("کتاب").await, library);
    // Arabic yeh (ي) for Persian yeh (ی) in «عمومی».
    assert_eq!(search("عمومي").await, library);
    // Persian digits, Arabic-Indic digits and ASCII digits are one.
    assert_eq!(search("۱۴۰۴").await, library);
    assert_eq!(search("١٤٠٤").await, library);
    assert_eq!(search("1404").await, library);
    // With or without the zero-width non-joiner in «درخواست‌های».
    assert_eq!(search("درخواستهای").await, library);
    assert_eq!(search("درخواست\u{200c}های").await, library);
    // English, any case; and nothing for nonsense.
    assert_eq!(search("LIBRARY card").await, library);
    assert!(search("zzzz-nothing").await.is_empty());
    // Category labels count too.
    assert_eq!(search("فرهنگی").await, library);
}

#[tokio::test]
async fn province_and_kind_filters() {
    let host = Host::start(&[APPLICANT, UTILITY_BILLS], "").await;
    let (_, all) = host.get("/api/v1/services").await;
    let all = ids(&all);
    assert!(all.contains(&"test-office/library-card".to_owned()) && all.contains(&"test-office/parking".to_owned()));

    let (_, isfahan) = host.get("/api/v1/services?province=isfahan").await;
    let isfahan = ids(&isfahan);
    assert!(isfahan.contains(&"test-office/library-card".to_owned()));
    assert!(!isfahan.contains(&"test-office/parking".to_owned()), "another province's service");
    assert!(isfahan.contains(&"utility-bills/bill-details".to_owned()), "national services are everywhere");
    assert!(isfahan.contains(&"test-office/permit".to_owned()));

    let (_, tehran) = host.get("/api/v1/services?province=tehran").await;
    let tehran = ids(&tehran);
    assert!(tehran.contains(&"test-office/parking".to_owned()));
    assert!(!tehran.contains(&"test-office/library-card".to_owned()));

    let (_, applications) = host.get("/api/v1/services?kind=application&agency=test-office").await;
    assert_eq!(ids(&applications), ["test-office/permit", "test-office/strong-permit"]);
    let (_, culture) = host.get("/api/v1/services?category=culture").await;
    assert_eq!(ids(&culture), ["test-office/library-card"]);
    let (status, _) = host.get("/api/v1/services?colour=blue").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn typed_fields_are_validated_with_the_shared_vectors() {
    let vectors: Value = serde_json::from_str(VECTORS).unwrap();
    // Every vector is a sign-in request from this one client: no per-client limit here.
    let host = Host::start(&[APPLICANT], "[auth]\notp-backoff-ms = 0\notp-client-per-minute = 0\n").await;

    // National IDs and mobiles at sign-in (each on a mobile of its own: a mobile may get
    // only a few codes in ten minutes).
    let mobile = |i: usize| format!("0912000{i:04}");
    for (i, valid) in vectors["national_id"]["valid"].as_array().unwrap().iter().enumerate() {
        host.own(valid.as_str().unwrap(), &mobile(i));
        let (status, body) = host.post("/auth/otp/start", json!({"national_id": valid, "mobile": mobile(i)})).await;
        assert_eq!(status, 202, "{valid}: {body}");
    }
    for valid in vectors["national_id"]["valid_after_digit_normalization"].as_array().unwrap() {
        host.own(valid.as_str().unwrap(), &mobile(100));
        let (status, _) = host.post("/auth/otp/start", json!({"national_id": valid, "mobile": mobile(100)})).await;
        assert_eq!(status, 202, "{valid}");
    }
    for invalid in vectors["national_id"]["invalid"].as_array().unwrap() {
        let (status, body) =
            host.post("/auth/otp/start", json!({"national_id": invalid, "mobile": "09121234567"})).await;
        assert_eq!(status, 422, "{invalid}: {body}");
        assert_eq!(body["errors"][0]["field"], "national_id", "{invalid}");
    }
    let national_ids = vectors["national_id"]["valid"].as_array().unwrap();
    for (i, pair) in vectors["mobile"]["normalizes_to"].as_array().unwrap().iter().enumerate() {
        let national_id = &national_ids[(i + 1) % national_ids.len()];
        host.own(national_id.as_str().unwrap(), pair[1].as_str().unwrap());
        let (status, body) = host.post("/auth/otp/start", json!({"national_id": national_id, "mobile": pair[0]})).await;
        if i < 5 {
            assert_eq!(status, 202, "{pair}: {body}");
            assert!(host.notifier.last_code(pair[1].as_str().unwrap()).is_some(), "{pair}");
        } else {
            // Every spelling is the same mobile (the registry confirms each new owner), so
            // the mobile's limit of five codes is reached.
            assert_eq!(status, 429, "{pair}: {body}");
            assert_eq!(body["type"], "/problems/otp-too-many-requests");
        }
    }
    for invalid in vectors["mobile"]["invalid"].as_array().unwrap() {
        let (status, body) =
            host.post("/auth/otp/start", json!({"national_id": "0084575948", "mobile": invalid})).await;
        assert_eq!(status, 422, "{invalid}: {body}");
        assert_eq!(body["errors"][0]["field"], "mobile");
    }

    // Postal codes in an application form.
    let token = host.sign_in("0963695398", &mobile(200)).await;
    let permit = "/api/v1/services/test-office/permit/applications";
    for valid in vectors["postal_code"]["valid"].as_array().unwrap() {
        let answer = host.post_as(&token, permit, json!({"input": {"postal-code": valid}})).await;
        assert_eq!(answer.status, 201, "{valid}: {}", answer.body);
    }
    for invalid in vectors["postal_code"]["invalid"].as_array().unwrap() {
        let answer = host.post_as(&token, permit, json!({"input": {"postal-code": invalid}})).await;
        assert_eq!(answer.status, 422, "{invalid}: {}", answer.body);
        assert_eq!(answer.body["errors"][0]["field"], "postal-code");
        assert!(!answer.body["errors"][0]["fa"].as_str().unwrap().is_empty());
    }
}

#[tokio::test]
async fn the_catalogue_is_built_once_per_registry_change_not_per_request() {
    let host = Host::start(&[APPLICANT, UTILITY_BILLS], "").await;
    // Read from the host itself: /metrics is one recorder for every host of this process.
    let builds = || host.app.registry.catalogue_builds();
    let before = builds();
    assert!(before >= 1);
    for q in ["کتاب", "bill", "قبض", "zzzz"] {
        for _ in 0..10 {
            let (status, _) = host.get(&format!("/api/v1/services?q={}", query(q))).await;
            assert_eq!(status, 200);
        }
        for page in ["/", "/services", &format!("/services?q={}", query(q))] {
            let response = host.client.get(host.url(page)).send().await.unwrap();
            assert_eq!(response.status(), 200, "{page}");
        }
    }
    assert_eq!(builds(), before, "anonymous requests built the catalogue");

    // A change of the registry builds it anew, and the search sees the change.
    let token = host.operator("leila", Role::Admin).await;
    let (status, body) = host.admin(reqwest::Method::DELETE, "/admin/v1/plugins/applicant", &token, None).await;
    assert!(status == 200 || status == 204, "{status} {body}");
    assert_eq!(builds(), before + 1);
    let (_, found) = host.get(&format!("/api/v1/services?q={}", query("کتاب"))).await;
    assert!(ids(&found).is_empty(), "{found}");
    let (_, found) = host.get("/api/v1/services?q=bill").await;
    assert!(ids(&found).contains(&"utility-bills/bill-details".to_owned()), "{found}");
}
