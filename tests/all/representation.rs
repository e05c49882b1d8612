//! Acting for others over real HTTP: a parent for a minor, a signatory for a legal entity,
//! each right checked against the civil and companies registries (`mock-agencies` on their
//! own ports), the actor recorded next to the subject.

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{APPLICANT, APPLICANT_WITH_NATIONAL_ID, Database, Host, ISFAHAN_MUNICIPALITY, on_both_databases};

const PARENT: (&str, &str) = ("0499370899", "09121234567");
const CHILD: &str = "0084575948";
const ADULT_CHILD: &str = "1583250689";
const SIGNATORY: (&str, &str) = ("1271408929", "09131234567");
const COMPANY: &str = "10380284790";

struct Registries {
    handle: mock_agencies::registries::Handle,
    /// The companies registry's server: dropping it takes the registry down.
    companies: Option<tokio::sync::watch::Sender<()>>,
    companies_addr: std::net::SocketAddr,
    _civil: tokio::sync::watch::Sender<()>,
    config: String,
}

async fn registries(cache_secs: u64) -> Registries {
    let handle = mock_agencies::registries::Handle::new("reg-token");
    let any = "127.0.0.1:0".parse().unwrap();
    let (companies, a) = mock_agencies::serve(any, handle.companies_router()).await.unwrap();
    let (civil, b) = mock_agencies::serve(any, handle.civil_router()).await.unwrap();
    let config = format!(
        "{APPLICANT_WITH_NATIONAL_ID}\n[representation]\ncompanies-url = \"http://{companies}\"\n\
         civil-url = \"http://{civil}\"\ntoken = {{ secret = \"reg-token\" }}\ncache-secs = {cache_secs}\n"
    );
    Registries { handle, companies: Some(a), companies_addr: companies, _civil: b, config }
}

async fn act(host: &Host, token: &str, basis: &str, id: &str) -> crate::harness::Answer {
    host.call(Method::POST, "/api/v1/me/representation", Some(token), Some(json!({"basis": basis, "id": id})), &[])
        .await
}

/// Files the test office's permit with `token`.
async fn file_permit(host: &Host, token: &str) -> crate::harness::Answer {
    let body = json!({"input": {"postal-code": "1193653471"}});
    host.call(Method::POST, "/api/v1/services/test-office/permit/applications", Some(token), Some(body), &[]).await
}

fn item<'a>(document: &'a Value, label: &str) -> &'a str {
    document["document"]["items"].as_array().unwrap().iter().find(|i| i["label"] == label).unwrap()["value"]
        .as_str()
        .unwrap()
}

async fn a_parent_acts_for_a_minor_and_both_see_it(db: Database) {
    let registries = registries(60).await;
    let host = Host::start_db(db, &[APPLICANT], &registries.config).await;
    let token = host.sign_in(PARENT.0, PARENT.1).await;
    let me = host.get_as(&token, "/api/v1/me").await.body;

    let view = host.get_as(&token, "/api/v1/me/representation").await;
    assert_eq!(view.status, 200, "{}", view.body);
    let may: Vec<(String, String)> = view.body["may_act_for"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["basis"].as_str().unwrap().to_owned(), r["id"].as_str().unwrap().to_owned()))
        .collect();
    assert!(may.contains(&("guardian".into(), CHILD.into())), "{may:?}");
    assert!(may.contains(&("signatory".into(), COMPANY.into())), "{may:?}");
    assert!(!may.iter().any(|(_, id)| id == ADULT_CHILD), "a child of 18 or more is not represented: {may:?}");

    // Not an adult child, not someone else's child.
    assert_eq!(act(&host, &token, "guardian", ADULT_CHILD).await.body["type"], "/problems/representation-refused");
    assert_eq!(act(&host, &token, "guardian", "0790419904").await.status, 403);
    assert_eq!(act(&host, &token, "guardian", "12345").await.status, 422);

    let acting = act(&host, &token, "guardian", CHILD).await;
    assert_eq!(acting.status, 200, "{}", acting.body);
    assert_eq!(acting.body["acting_for"]["id"], CHILD);
    let child_subject = acting.body["acting_for"]["subject"].as_str().unwrap().to_owned();
    assert_ne!(child_subject, me["subject"].as_str().unwrap());

    // The agency gets the child's national ID; the application is the child's, filed by the parent.
    let echo = host
        .call(
            Method::POST,
            "/api/v1/services/test-office/echo/inquiries",
            Some(&token),
            Some(json!({"input": {}})),
            &[],
        )
        .await;
    assert_eq!(item(&echo.body, "national-id"), CHILD, "{}", echo.body);
    let filed = file_permit(&host, &token).await;
    assert_eq!(filed.status, 201, "{}", filed.body);
    assert_eq!(filed.body["filed_by"], me["subject"]);
    assert_eq!(host.get_as(&token, "/api/v1/applications").await.body["count"], 1);

    // Back to the parent: the child's application is not the parent's.
    assert_eq!(host.call(Method::DELETE, "/api/v1/me/representation", Some(&token), None, &[]).await.status, 204);
    assert_eq!(host.get_as(&token, "/api/v1/applications").await.body["count"], 0);
    let acted = host.get_as(&token, "/api/v1/me/acted").await.body;
    assert_eq!(acted["for_others"].as_array().unwrap().len(), 1, "{acted}");
    assert_eq!(acted["for_others"][0]["subject"], child_subject.as_str());
    assert_eq!(acted["for_others"][0]["reference"], filed.body["tracking_code"]);

    // Neither reads the other's application (404, as for any stranger), in either direction.
    let child_code = filed.body["tracking_code"].as_str().unwrap().to_owned();
    let read = |code: &str| {
        let path = format!("/api/v1/applications/{code}");
        let (host, token) = (&host, &token);
        async move { host.get_as(token, &path).await }
    };
    assert_eq!(read(&child_code).await.status, 404, "the parent, as themselves, does not read the child's");
    let own = file_permit(&host, &token).await;
    let own_code = own.body["tracking_code"].as_str().unwrap().to_owned();
    assert_eq!(act(&host, &token, "guardian", CHILD).await.status, 200);
    assert_eq!(read(&own_code).await.status, 404, "acting for the child, the parent's own is not the child's");
    assert_eq!(read(&child_code).await.status, 200);
    assert_eq!(host.call(Method::DELETE, "/api/v1/me/representation", Some(&token), None, &[]).await.status, 204);

    // The evidence names the parent as the actor, and the child.
    let operator = host.operator("leila", panjereh_host::store::operators::Role::Auditor).await;
    let (_, log) = host.admin(Method::GET, "/admin/v1/audit?limit=50", &operator, None).await;
    let entries = log["entries"].as_array().unwrap();
    assert!(entries.iter().any(|e| e["kind"] == "representation.start"
        && e["actor"] == me["subject"]
        && e["subject"] == child_subject.as_str()));
    let submits: Vec<_> = entries.iter().filter(|e| e["kind"] == "call.submit").collect();
    assert_eq!(submits.len(), 2, "the child's and the parent's own");
    assert!(submits.iter().all(|e| e["actor"] == me["subject"]), "{submits:?}");
    let for_child = submits.iter().filter(|e| e["data"]["on_behalf_of"] == child_subject.as_str()).count();
    assert_eq!(for_child, 1, "{submits:?}");
}

async fn a_signatory_acts_for_a_company_while_the_registry_says_so(db: Database) {
    // No cache: every request asks the registry.
    let registries = registries(0).await;
    let host = Host::start_db(db, &[APPLICANT], &registries.config).await;
    let token = host.sign_in(SIGNATORY.0, SIGNATORY.1).await;
    assert_eq!(act(&host, &token, "signatory", "10380284792").await.status, 422, "a legal ID with a wrong check digit");
    let acting = act(&host, &token, "signatory", COMPANY).await;
    assert_eq!(acting.status, 200, "{}", acting.body);
    let me = host.get_as(&token, "/api/v1/me").await.body;
    assert_eq!(me["national_id"], COMPANY, "the session acts for the company");
    // A service that hands a person's national ID to the agency is not the company's.
    let echo = host
        .call(
            Method::POST,
            "/api/v1/services/test-office/echo/inquiries",
            Some(&token),
            Some(json!({"input": {}})),
            &[],
        )
        .await;
    assert_eq!(echo.status, 403);
    assert_eq!(echo.body["type"], "/problems/service-for-persons");

    // The registry does not answer: a 503, and the acting neither ends nor is granted.
    let mut registries = registries;
    registries.companies.take();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let down = host.get_as(&token, "/api/v1/me").await;
    assert_eq!(
        (down.status, down.body["type"].as_str()),
        (503, Some("/problems/registry-unavailable")),
        "{}",
        down.body
    );
    let (_, server) =
        mock_agencies::serve(registries.companies_addr, registries.handle.companies_router()).await.unwrap();
    registries.companies = Some(server);
    assert_eq!(host.get_as(&token, "/api/v1/me").await.body["national_id"], COMPANY, "still acting once it is back");

    // The board changes at the registry: the right ends on the next request.
    registries.handle.remove_signatory(COMPANY, SIGNATORY.0);
    let view = host.get_as(&token, "/api/v1/me/representation").await.body;
    assert!(view["acting_for"].is_null(), "{view}");
    assert_eq!(host.get_as(&token, "/api/v1/me").await.body["national_id"], SIGNATORY.0);
    assert_eq!(act(&host, &token, "signatory", COMPANY).await.status, 403);
}

/// A company's contractor qualification is renewed by its signatory: a person on their
/// own is refused, the agency is told it is a legal entity and who acts for it, and the
/// application is the company's, recorded with its signatory as the actor.
async fn a_signatory_files_for_the_company_and_a_person_alone_cannot(db: Database) {
    let registries = registries(60).await;
    let config = format!(
        "{}\n[adapters.isfahan-municipality]\ngrant = {{ kv-quota-kib = 1024, identity = [\"national-id\"] }}\n",
        registries.config
    );
    let host = Host::start_db(db, &[ISFAHAN_MUNICIPALITY], &config).await;
    let token = host.sign_in(SIGNATORY.0, SIGNATORY.1).await;
    let person = host.get_as(&token, "/api/v1/me").await.body["subject"].as_str().unwrap().to_owned();
    let renewal = || Some(json!({"input": {"field": "civil", "grade": "3"}}));
    let path = "/api/v1/services/isfahan-municipality/contractor-renewal/applications";

    let alone = host.call(Method::POST, path, Some(&token), renewal(), &[]).await;
    assert_eq!((alone.status, alone.body["type"].as_str()), (403, Some("/problems/service-for-legal-entities")));
    let detail =
        host.call(Method::GET, "/api/v1/services/isfahan-municipality/contractor-renewal", None, None, &[]).await;
    assert_eq!(detail.body["audience"], "legal-entities", "{}", detail.body);

    assert_eq!(act(&host, &token, "signatory", COMPANY).await.status, 200);
    let company = host.get_as(&token, "/api/v1/me").await.body["subject"].as_str().unwrap().to_owned();
    let filed = host.call(Method::POST, path, Some(&token), renewal(), &[("idempotency-key", "renew-1")]).await;
    assert_eq!(filed.status, 201, "{}", filed.body);
    assert_eq!(filed.body["filed_by"], person.as_str(), "the signatory is recorded as the actor");
    assert!(filed.body["agency_reference"].as_str().unwrap().starts_with("ISF-CR-"), "{}", filed.body);
    let code = filed.body["tracking_code"].as_str().unwrap().to_owned();
    let listed = host.get_as(&token, "/api/v1/applications").await.body;
    assert_eq!(listed["applications"][0]["tracking_code"], code.as_str(), "the company's applications");

    // The evidence names both: the signatory acted, for the company.
    let auditor = host.operator("auditor", panjereh_host::store::operators::Role::Auditor).await;
    let submit = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            let (_, audit) = host.admin(Method::GET, "/admin/v1/audit", &auditor, None).await;
            let found = audit["entries"].as_array().unwrap().iter().find(|e| e["kind"] == "call.submit").cloned();
            if let Some(entry) = found {
                break entry;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the submit reaches the evidence log");
    assert_eq!(submit["actor"], person.as_str());
    let data = submit["data"].clone();
    assert_eq!((data["on_behalf_of"].as_str(), data["outcome"].as_str()), (Some(company.as_str()), Some("ok")));

    // Back to acting for oneself: the company's application is not the person's.
    let back = host.call(Method::DELETE, "/api/v1/me/representation", Some(&token), None, &[]).await;
    assert!(back.status < 300, "{}", back.body);
    let own = host.get_as(&token, "/api/v1/applications").await.body;
    assert_eq!(own["count"], 0, "{own}");
}

on_both_databases!(
    a_parent_acts_for_a_minor_and_both_see_it,
    a_signatory_acts_for_a_company_while_the_registry_says_so,
    a_counter_clerk_acts_for_a_citizen_present_only_with_their_code,
    a_mandate_lets_a_delegate_act_until_it_ends,
    a_signatory_files_for_the_company_and_a_person_alone_cannot,
);

#[tokio::test]
async fn without_the_registries_everyone_acts_for_themselves() {
    let host = Host::start(&[], "").await;
    let token = host.sign_in(PARENT.0, PARENT.1).await;
    let view = host.get_as(&token, "/api/v1/me/representation").await;
    assert_eq!((view.status, view.body["may_act_for"].as_array().map(Vec::len)), (200, Some(0)));
    let refused = act(&host, &token, "guardian", CHILD).await;
    assert_eq!((refused.status, refused.body["type"].as_str()), (404, Some("/problems/representation-off")));
}

/// The portal's page lists whom the person may act for, and every page says for whom the
/// session acts.
#[tokio::test]
async fn the_portal_shows_whom_one_may_act_for_and_for_whom_one_acts() {
    let registries = registries(60).await;
    let host = Host::start(&[APPLICANT], &registries.config).await;
    let token = host.sign_in(PARENT.0, PARENT.1).await;
    let page = |path: &'static str| {
        let request = host.client.get(host.url(path)).bearer_auth(&token);
        async move { request.send().await.unwrap().text().await.unwrap() }
    };
    let html = page("/representation").await;
    assert!(html.contains("شرکت ساختمانی زاینده‌رود") && html.contains("سارا رضایی"), "{html}");
    assert!(html.contains("امضاکننده‌ی شخص حقوقی") && html.contains("ولی فرزند زیر ۱۸ سال"));
    assert_eq!(act(&host, &token, "guardian", CHILD).await.status, 200);
    let html = page("/applications").await;
    assert!(html.contains("از طرف") && html.contains("۰۰۸۴۵۷۵۹۴۸"), "the header names the subject: {html}");
}

/// A counter-office clerk acts for the citizen present only after the citizen reads back
/// the code sent to their own mobile, only in the services the citizen consented to, and
/// only while the clerk stays registered. The code signs nobody in, and no other session
/// can use it. The citizen sees what the clerk did for them.
async fn a_counter_clerk_acts_for_a_citizen_present_only_with_their_code(db: Database) {
    // The test ends a consent in the database behind the host's back, as another replica
    // would: the host believes its copy of the session for 100 ms at most.
    let gateway = crate::payments::gateway().await;
    let config = APPLICANT_WITH_NATIONAL_ID.replace("[auth]\n", "[auth]\nsession-cache-ms = 100\n")
        + &crate::payments::payments_config(gateway.addr, "");
    let host = Host::start_db(db, &[APPLICANT], &config).await;
    let clerk = host.sign_in(SIGNATORY.0, SIGNATORY.1).await;
    let consent = |body: Value| host.call(Method::POST, "/api/v1/counter/consent", Some(&clerk), Some(body), &[]);
    let present = json!({"national_id": PARENT.0, "mobile": PARENT.1, "services": ["test-office/permit"]});
    let refused = consent(present.clone()).await;
    assert_eq!((refused.status, refused.body["type"].as_str()), (403, Some("/problems/not-a-counter-clerk")));

    let admin = host.operator("leila", panjereh_host::store::operators::Role::Admin).await;
    let office = json!({"national_id": SIGNATORY.0, "office_id": "ISF-114", "office_name": "دفتر پیشخوان ۱۱۴ اصفهان"});
    assert_eq!(host.admin(Method::POST, "/admin/v1/counter-clerks", &admin, Some(office)).await.0, 204);

    // The clerk cannot name a mobile that is not the citizen's.
    let stranger =
        consent(json!({"national_id": PARENT.0, "mobile": "09359876543", "services": ["test-office/permit"]})).await;
    assert_eq!(stranger.body["type"], "/problems/otp-refused");
    // A consent names the services, and only services the window has.
    for services in [json!(null), json!([]), json!(["test-office/no-such"]), json!(["permit"])] {
        let asked = consent(json!({"national_id": PARENT.0, "mobile": PARENT.1, "services": services})).await;
        assert_eq!((asked.status, asked.body["errors"][0]["field"].as_str()), (422, Some("services")), "{services}");
    }
    assert!(host.notifier.last_code(PARENT.1).is_none(), "no code for a consent that names no service");
    assert_eq!(consent(present.clone()).await.status, 202);
    let code = host.notifier.last_code(PARENT.1).expect("the code went to the citizen's own mobile");
    let sms = host.notifier.last_text(PARENT.1).unwrap();
    assert!(sms.contains("دفتر پیشخوان ۱۱۴ اصفهان") && sms.contains("۱ خدمت") && sms.contains(&code), "{sms}");

    // The code is the citizen's consent to this clerk's session: it signs nobody in, and
    // another session of the same clerk cannot use it.
    let signin = host.post("/auth/otp/verify", json!({"national_id": PARENT.0, "code": code})).await;
    assert_eq!((signin.0, signin.1["type"].as_str()), (401, Some("/problems/otp-invalid")));
    let other_session = host.sign_in(SIGNATORY.0, SIGNATORY.1).await;
    let elsewhere = host
        .call(
            Method::POST,
            "/api/v1/counter/consent/verify",
            Some(&other_session),
            Some(json!({"national_id": PARENT.0, "code": code})),
            &[],
        )
        .await;
    assert_eq!(elsewhere.body["type"], "/problems/otp-invalid");
    let verify = |code: String| {
        host.call(
            Method::POST,
            "/api/v1/counter/consent/verify",
            Some(&clerk),
            Some(json!({"national_id": PARENT.0, "code": code})),
            &[],
        )
    };
    let wrong = format!("{:05}", (code.parse::<u32>().unwrap() + 1) % 100_000);
    assert_eq!(verify(wrong).await.body["type"], "/problems/otp-invalid");
    let acting = verify(code).await;
    assert_eq!(acting.status, 200, "{}", acting.body);
    assert_eq!(
        (acting.body["acting_for"]["basis"].as_str(), acting.body["acting_for"]["id"].as_str()),
        (Some("counter"), Some(PARENT.0))
    );

    let filed = file_permit(&host, &clerk).await;
    assert_eq!(filed.status, 201, "{}", filed.body);
    let clerk_subject = acting.body["actor"].as_str().unwrap().to_owned();
    assert_eq!(filed.body["filed_by"], clerk_subject.as_str());
    // Nothing the citizen did not consent to: another service, or a plain bill.
    let echo = host
        .call(
            Method::POST,
            "/api/v1/services/test-office/echo/inquiries",
            Some(&clerk),
            Some(json!({"input": {}})),
            &[],
        )
        .await;
    assert_eq!((echo.status, echo.body["type"].as_str()), (403, Some("/problems/outside-mandate")), "{}", echo.body);
    let bill = json!({"bill_id": "7748317800142", "payment_id": "1770160", "agency": "utility-bills"});
    let paid = host.call(Method::POST, "/api/v1/payments", Some(&clerk), Some(bill), &[]).await;
    assert_eq!((paid.status, paid.body["type"].as_str()), (403, Some("/problems/outside-mandate")), "{}", paid.body);

    // The citizen, signed in on their own, sees it and who filed it.
    let citizen = host.sign_in(PARENT.0, PARENT.1).await;
    assert_eq!(host.get_as(&citizen, "/api/v1/applications").await.body["count"], 1);
    let acted = host.get_as(&citizen, "/api/v1/me/acted").await.body;
    assert_eq!(acted["for_me"][0]["actor"], clerk_subject.as_str(), "{acted}");
    assert_eq!(acted["for_me"][0]["actor_id"], SIGNATORY.0, "the citizen sees who acted: {acted}");

    // The consent is short: half an hour after it, the clerk acts for themselves again.
    let until: i64 = sqlx::query_scalar("SELECT acting_until_ms FROM sessions WHERE acting_basis = 'counter'")
        .fetch_one(host.app.db.pool())
        .await
        .unwrap();
    let now = panjereh_host::store::now_ms();
    assert!((until - now - 30 * 60 * 1000).abs() < 60_000, "half an hour: {}", until - now);
    sqlx::query("UPDATE sessions SET acting_until_ms = 1 WHERE acting_basis = 'counter'")
        .execute(host.app.db.writer())
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    assert_eq!(host.get_as(&clerk, "/api/v1/me").await.body["national_id"], SIGNATORY.0, "the consent ran out");
    assert_eq!(consent(present).await.status, 202);
    let again = verify(host.notifier.last_code(PARENT.1).unwrap()).await;
    assert_eq!(again.status, 200, "the citizen consents again: {}", again.body);

    // Removed from the register: the clerk acts for themselves again on the next request.
    let removed = host.admin(Method::DELETE, &format!("/admin/v1/counter-clerks/{}", SIGNATORY.0), &admin, None).await;
    assert_eq!(removed.0, 204);
    assert_eq!(host.get_as(&clerk, "/api/v1/me").await.body["national_id"], SIGNATORY.0);
}

/// A mandate: the grantor lets a delegate act for them until a date; the delegate cannot pass
/// it on; revoking it, or its running out, ends the delegate's acting at once.
async fn a_mandate_lets_a_delegate_act_until_it_ends(db: Database) {
    let host = Host::start_db(db, &[APPLICANT], APPLICANT_WITH_NATIONAL_ID).await;
    let grantor = host.sign_in(PARENT.0, PARENT.1).await;
    let delegate = host.sign_in(SIGNATORY.0, SIGNATORY.1).await;
    async fn give(host: &Host, token: &str, body: Value) -> crate::harness::Answer {
        host.call(Method::POST, "/api/v1/me/mandates", Some(token), Some(body), &[]).await
    }
    let until = {
        let d = time::OffsetDateTime::now_utc().date() + time::Duration::days(30);
        format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
    };
    assert_eq!(give(&host, &grantor, json!({"delegate_national_id": "123", "until": until})).await.status, 422);
    assert_eq!(
        give(&host, &grantor, json!({"delegate_national_id": SIGNATORY.0, "until": "2020-01-01"})).await.status,
        422
    );
    let given = give(&host, &grantor, json!({"delegate_national_id": SIGNATORY.0, "until": until})).await;
    assert_eq!(given.status, 201, "{}", given.body);
    let mandate = given.body["id"].as_str().unwrap().to_owned();

    let view = host.get_as(&delegate, "/api/v1/me/representation").await.body;
    assert!(
        view["may_act_for"].as_array().unwrap().iter().any(|r| r["basis"] == "mandate" && r["id"] == PARENT.0),
        "{view}"
    );
    assert_eq!(act(&host, &delegate, "mandate", PARENT.0).await.status, 200);
    assert_eq!(host.get_as(&delegate, "/api/v1/me").await.body["national_id"], PARENT.0);
    // No sub-delegation.
    let passed = give(&host, &delegate, json!({"delegate_national_id": "0790419904", "until": until})).await;
    assert_eq!((passed.status, passed.body["type"].as_str()), (403, Some("/problems/mandate-not-transferable")));
    // Only the grantor's own mandate can be acted on.
    assert_eq!(act(&host, &delegate, "mandate", "0790419904").await.status, 403);

    // Revoked: the delegate acts for themselves on the next request.
    let revoked =
        host.call(Method::POST, &format!("/api/v1/me/mandates/{mandate}/revoke"), Some(&grantor), None, &[]).await;
    assert_eq!(revoked.status, 204);
    assert_eq!(host.get_as(&delegate, "/api/v1/me").await.body["national_id"], SIGNATORY.0);
    assert_eq!(act(&host, &delegate, "mandate", PARENT.0).await.status, 403);

    // A mandate that ran out ends the same way.
    let again = give(&host, &grantor, json!({"delegate_national_id": SIGNATORY.0, "until": until})).await;
    assert_eq!(act(&host, &delegate, "mandate", PARENT.0).await.status, 200);
    sqlx::query("UPDATE mandates SET valid_until_ms = 1 WHERE id = $1")
        .bind(again.body["id"].as_str().unwrap())
        .execute(host.app.db.writer())
        .await
        .unwrap();
    assert_eq!(host.get_as(&delegate, "/api/v1/me").await.body["national_id"], SIGNATORY.0, "expired");
    let list = host.get_as(&grantor, "/api/v1/me/mandates").await.body;
    assert_eq!(list["given"].as_array().unwrap().len(), 2, "{list}");

    // A mandate for one service only: the delegate uses that one, and is refused the rest.
    let unknown = json!({"delegate_national_id": SIGNATORY.0, "until": until, "services": ["test-office/nothing"]});
    let unknown = give(&host, &grantor, unknown).await;
    assert_eq!((unknown.status, unknown.body["errors"][0]["field"].as_str()), (422, Some("services")));
    let scoped = json!({"delegate_national_id": SIGNATORY.0, "until": until, "services": ["test-office/echo"]});
    let scoped = give(&host, &grantor, scoped).await;
    assert_eq!(scoped.status, 201, "{}", scoped.body);
    assert_eq!(scoped.body["services"], json!(["test-office/echo"]));
    assert_eq!(act(&host, &delegate, "mandate", PARENT.0).await.status, 200);
    let inquire = |service: &'static str| {
        let path = format!("/api/v1/services/test-office/{service}/inquiries");
        let token = delegate.clone();
        let host = &host;
        async move { host.call(Method::POST, &path, Some(&token), Some(json!({"input": {}})), &[]).await }
    };
    let echo = inquire("echo").await;
    assert_eq!(echo.status, 200, "{}", echo.body);
    let other = inquire("library-card").await;
    assert_eq!((other.status, other.body["type"].as_str()), (403, Some("/problems/outside-mandate")), "{}", other.body);
    let filing = host
        .call(
            Method::POST,
            "/api/v1/services/test-office/permit/applications",
            Some(&delegate),
            Some(json!({"input": {}})),
            &[],
        )
        .await;
    assert_eq!(filing.body["type"], "/problems/outside-mandate", "{}", filing.body);

    // A mandate the grantor lets the delegate pass on: the delegate, acting for the grantor,
    // passes it on within it, and the third person acts for the grantor while it lasts.
    let passable = json!({"delegate_national_id": SIGNATORY.0, "until": until, "may_pass_on": true,
                          "services": ["test-office/echo", "test-office/permit"]});
    let passable = give(&host, &grantor, passable).await;
    assert_eq!((passable.status, &passable.body["may_pass_on"]), (201, &json!(true)), "{}", passable.body);
    assert_eq!(act(&host, &delegate, "mandate", PARENT.0).await.status, 200);
    const THIRD: (&str, &str) = ("0790419904", "09351234567");
    let pass_on = |body: Value| give(&host, &delegate, body);
    let later = {
        let d = time::OffsetDateTime::now_utc().date() + time::Duration::days(60);
        format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
    };
    for (body, field) in [
        (json!({"delegate_national_id": THIRD.0, "until": until, "services": ["test-office"]}), "services"),
        (json!({"delegate_national_id": THIRD.0, "until": until}), "services"),
        (json!({"delegate_national_id": THIRD.0, "until": later, "services": ["test-office/echo"]}), "until"),
        (
            json!({"delegate_national_id": THIRD.0, "until": until, "services": ["test-office/echo"], "may_pass_on": true}),
            "may_pass_on",
        ),
    ] {
        let refused = pass_on(body.clone()).await;
        assert_eq!((refused.status, refused.body["errors"][0]["field"].as_str()), (422, Some(field)), "{body}");
    }
    let passed =
        pass_on(json!({"delegate_national_id": THIRD.0, "until": until, "services": ["test-office/echo"]})).await;
    assert_eq!(passed.status, 201, "{}", passed.body);
    assert_eq!(passed.body["passed_on_from"], passable.body["id"]);
    let list = host.get_as(&grantor, "/api/v1/me/mandates").await.body;
    assert!(
        list["given"].as_array().unwrap().iter().any(|m| m["id"] == passed.body["id"]),
        "the grantor sees it: {list}"
    );
    let third = host.sign_in(THIRD.0, THIRD.1).await;
    assert_eq!(act(&host, &third, "mandate", PARENT.0).await.status, 200);
    let echo = host
        .call(
            Method::POST,
            "/api/v1/services/test-office/echo/inquiries",
            Some(&third),
            Some(json!({"input": {}})),
            &[],
        )
        .await;
    assert_eq!((echo.status, item(&echo.body, "national-id")), (200, PARENT.0), "{}", echo.body);
    let again =
        give(&host, &third, json!({"delegate_national_id": CHILD, "until": until, "services": ["test-office/echo"]}));
    assert_eq!(again.await.body["type"], "/problems/mandate-not-transferable", "passed on once, no further");
    // The grantor revokes the mandate it came from: the third person's acting ends too.
    let id = passable.body["id"].as_str().unwrap();
    let revoked = host.call(Method::POST, &format!("/api/v1/me/mandates/{id}/revoke"), Some(&grantor), None, &[]).await;
    assert_eq!(revoked.status, 204);
    assert_eq!(host.get_as(&third, "/api/v1/me").await.body["national_id"], THIRD.0);
}
