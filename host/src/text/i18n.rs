//! The portal's own words in Persian and English, and labels for the API's wire names
//! (`status.in-review`, `kind.inquiry`, `province.isfahan`, ...). Templates read them as
//! `t.key` or `t["status." ~ s]`; a missing key renders empty rather than failing.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use crate::text::Lang;

/// `(key, Persian, English)`.
const STRINGS: &[(&str, &str, &str)] = &[
    ("site", "پنجره دولت", "Panjereh government window"),
    ("skip", "پرش به محتوا", "Skip to content"),
    ("nav", "پیمایش اصلی", "Main navigation"),
    ("home", "صفحه اصلی", "Home"),
    ("catalogue", "فهرست خدمات", "Services"),
    ("my_applications", "درخواست‌های من", "My applications"),
    ("usage", "چه کسی از اطلاعات من استفاده کرد", "Who used my data"),
    ("signin", "ورود", "Sign in"),
    ("signout", "خروج", "Sign out"),
    ("other_lang", "English", "فارسی"),
    ("footer", "پنجره ملی خدمات دولت هوشمند", "National window of government services"),
    ("signed_in_as", "وارد شده با", "signed in as"),
    ("home_heading", "همه خدمات دولت، در یک پنجره", "Every government service, one window"),
    (
        "home_intro",
        "یک بار وارد شوید و استعلام بگیرید، درخواست ثبت کنید و آن را با کد پیگیری دنبال کنید.",
        "Sign in once to run inquiries, file applications and follow them with a tracking code.",
    ),
    ("search_label", "جست‌وجوی خدمت", "Search services"),
    ("search_placeholder", "مثلاً: قبض برق", "e.g. electricity bill"),
    ("search", "جست‌وجو", "Search"),
    ("groups", "گروه‌های خدمت", "Service groups"),
    ("no_services", "هنوز خدمتی وصل نشده است.", "No services are connected yet."),
    ("track_heading", "پیگیری درخواست", "Track an application"),
    ("tracking_code", "کد پیگیری", "Tracking code"),
    ("track", "پیگیری", "Track"),
    ("category", "گروه", "Group"),
    ("agency", "دستگاه", "Agency"),
    ("province", "استان", "Province"),
    ("kind", "نوع خدمت", "Kind"),
    ("all", "همه", "All"),
    ("filter", "نمایش", "Show"),
    ("found", "تعداد خدمات یافته‌شده:", "Services found:"),
    ("no_results", "خدمتی با این مشخصات یافت نشد.", "No service matches."),
    ("choose", "انتخاب کنید", "Choose"),
    ("kind.inquiry", "استعلام", "Inquiry"),
    ("kind.application", "درخواست", "Application"),
    ("fee", "هزینه", "Fee"),
    ("rial", "ریال", "rials"),
    ("free", "رایگان", "Free"),
    ("expected", "زمان تقریبی", "Expected time"),
    ("days", "روز", "days"),
    ("assurance", "سطح ورود لازم", "Sign-in needed"),
    ("assurance.none", "بدون ورود", "None"),
    ("assurance.low", "پایین", "Low"),
    ("assurance.substantial", "کد یک‌بارمصرف", "One-time code"),
    ("assurance.high", "کارت هوشمند ملی", "Smart national card"),
    ("scope", "محدوده", "Scope"),
    ("national", "سراسری", "National"),
    ("receives", "اطلاعاتی که دستگاه دریافت می‌کند", "What the agency receives"),
    ("attribute.national-id", "کد ملی", "National ID"),
    ("attribute.mobile", "شماره موبایل", "Mobile number"),
    ("needs_signin", "برای این خدمت باید وارد شوید.", "This service needs you to sign in."),
    ("submit_inquiry", "استعلام", "Run inquiry"),
    ("submit_application", "ثبت درخواست", "File application"),
    ("bill_id", "شناسه قبض", "Bill ID"),
    ("payment_id", "شناسه پرداخت", "Payment ID"),
    ("request_id", "شناسه درخواست:", "Request reference:"),
    ("pay", "پرداخت", "Pay"),
    ("maintenance", "در دست تعمیر", "Under maintenance"),
    (
        "maintenance.detail",
        "این خدمت موقتاً در دسترس نیست؛ کمی بعد دوباره سر بزنید.",
        "This service is temporarily unavailable; please come back later.",
    ),
    ("inbox", "پیام‌ها", "Messages"),
    ("representation", "اقدام از طرف دیگران", "Act for others"),
    ("representation.as", "از طرف", "Acting for"),
    ("representation.now", "اکنون از طرف این شخص اقدام می‌کنید:", "You are now acting for"),
    ("representation.stop", "بازگشت به اقدام از طرف خودم", "Act for myself again"),
    (
        "representation.none",
        "ثبت شرکت‌ها و ثبت احوال کسی را نمی‌شناسند که بتوانید از طرف او اقدام کنید.",
        "The registries know no one you may act for.",
    ),
    ("representation.act", "اقدام از طرف این شخص", "Act for them"),
    ("representation.until", "تا", "Until"),
    ("representation.basis.signatory", "امضاکننده‌ی شخص حقوقی", "Signatory of a legal entity"),
    ("representation.basis.guardian", "ولی فرزند زیر ۱۸ سال", "Parent of a child under 18"),
    ("representation.basis.mandate", "وکیل به موجب وکالت‌نامه", "Delegate under a mandate"),
    ("representation.basis.counter", "کارمند دفتر پیشخوان", "Counter-office clerk"),
    ("acted.for_me", "آنچه دیگران از طرف شما انجام دادند", "What others did for you"),
    ("acted.for_others", "آنچه شما از طرف دیگران انجام دادید", "What you did for others"),
    ("acted.what", "چه", "What"),
    ("acted.reference", "شماره", "Reference"),
    ("acted.by", "به دست (کد ملی)", "By (national ID)"),
    ("acted.for", "از طرف (شناسه)", "For (ID)"),
    ("acted.kind.application", "درخواست", "Application"),
    ("acted.kind.payment", "پرداخت", "Payment"),
    ("mandates", "وکالت‌ها", "Mandates"),
    (
        "mandates.intro",
        "به کسی که به او اعتماد دارید اجازه دهید تا تاریخی معین، در همه یا برخی خدمت‌ها از طرف شما اقدام کند. هر زمان بخواهید آن را لغو می‌کنید؛ او نمی‌تواند این اجازه را به دیگری بدهد.",
        "Let someone you trust act for you, in every service or some, until a date. You can revoke it at any time; they cannot pass it on.",
    ),
    ("mandates.given", "وکالت‌هایی که داده‌اید", "Mandates you gave"),
    ("mandates.received", "وکالت‌هایی که به شما داده‌اند", "Mandates given to you"),
    ("mandates.none_given", "وکالتی نداده‌اید.", "You have given no mandate."),
    ("mandates.none_received", "کسی به شما وکالت نداده است.", "Nobody has given you a mandate."),
    ("mandates.delegate", "کد ملی وکیل", "Delegate's national ID"),
    ("mandates.delegate_help", "کسی که از طرف شما اقدام می‌کند", "Who will act for you"),
    ("mandates.grantor", "از طرف", "For"),
    ("mandates.until", "تا تاریخ", "Until"),
    ("mandates.until_help", "تاریخ شمسی، حداکثر یک سال بعد", "A Jalali date, at most a year ahead"),
    ("mandates.services", "خدمت‌ها", "Services"),
    ("mandates.every_service", "همه‌ی خدمت‌ها", "Every service"),
    ("mandates.only_ticked", "فقط خدمت‌هایی که علامت می‌زنم", "Only the services I tick"),
    ("mandates.state", "وضعیت", "State"),
    (
        "mandates.may_pass_on",
        "وکیل بتواند این وکالت را در همین محدوده و تا همین تاریخ به دیگری بدهد",
        "The delegate may pass it on, within what it covers and until its date",
    ),
    ("mandates.revoke", "لغو وکالت", "Revoke"),
    ("mandates.revoked", "لغو شده", "Revoked"),
    ("mandates.give", "دادن وکالت", "Give a mandate"),
    ("mandates.give_button", "ثبت وکالت", "Give the mandate"),
    (
        "mandates.not_while_acting",
        "وقتی از طرف دیگری اقدام می‌کنید نمی‌توانید وکالت بدهید.",
        "You cannot give a mandate while acting for someone else.",
    ),
    ("inbox.empty", "پیامی ندارید.", "You have no messages."),
    ("preferences", "چگونه به شما خبر دهیم", "How we reach you"),
    (
        "preferences.intro",
        "هر پیام در این صندوق می‌ماند؛ اگر بخواهید، با پیامک یا ایمیل هم خبرتان می‌کنیم.",
        "Every message stays in this inbox; if you like, we also tell you by SMS or e-mail.",
    ),
    ("preferences.channels", "افزون بر صندوق پیام", "Besides the inbox"),
    ("preferences.sms", "پیامک به موبایل تأییدشده‌ی شما", "SMS to your confirmed mobile"),
    ("preferences.email", "ایمیل", "E-mail"),
    ("preferences.address", "نشانی ایمیل", "E-mail address"),
    ("preferences.language", "زبان پیامک و ایمیل", "Language of SMS and e-mail"),
    ("preferences.save", "ذخیره", "Save"),
    ("preferences.saved", "ذخیره شد.", "Saved."),
    ("inbox.unread", "تازه", "New"),
    ("inbox.unread_count", "پیام خوانده‌نشده", "unread messages"),
    ("sms.delivered", "پیامک رسید", "SMS delivered"),
    ("sms.sent", "پیامک فرستاده شد", "SMS sent"),
    ("sms.queued", "پیامک در صف", "SMS queued"),
    ("sms.failed-temporarily", "پیامک هنوز نرسیده", "SMS not delivered yet"),
    ("sms.failed-permanently", "پیامک نرسید", "SMS could not be delivered"),
    ("payment", "پرداخت", "Payment"),
    ("amount", "مبلغ", "Amount"),
    ("rrn", "شماره مرجع", "Reference number (RRN)"),
    ("trace", "شماره پیگیری", "Trace number"),
    ("card", "کارت", "Card"),
    ("paid_at", "زمان پرداخت", "Paid at"),
    ("payment_ref", "شماره‌ی سفارش در پنجره:", "Order reference:"),
    ("payment.created", "در حال آماده‌سازی پرداخت", "Preparing the payment"),
    ("payment.redirected", "در انتظار پرداخت", "Waiting for the payment"),
    ("payment.returned", "در حال تأیید پرداخت", "Confirming the payment"),
    ("payment.verified", "در حال تسویه", "Settling the payment"),
    ("payment.settled", "رسید پرداخت", "Payment receipt"),
    ("payment.settled.detail", "پرداخت با موفقیت انجام شد.", "The payment went through."),
    (
        "payment.open.detail",
        "پرداخت در حال تأیید با بانک است؛ این صفحه خودکار به‌روز می‌شود.",
        "The payment is being confirmed with the bank; this page refreshes by itself.",
    ),
    ("payment.failed", "پرداخت انجام نشد", "The payment did not go through"),
    (
        "payment.failed.detail",
        "پولی از حساب شما برداشته نشد. می‌توانید دوباره پرداخت کنید.",
        "No money was taken. You may pay again.",
    ),
    ("payment.reversed", "پرداخت برگشت خورد", "The payment was reversed"),
    (
        "payment.reversed.detail",
        "مبلغ برداشته‌شده به حساب شما برمی‌گردد (معمولاً تا ۷۲ ساعت).",
        "The amount taken goes back to your account (usually within 72 hours).",
    ),
    ("payment.expired", "مهلت پرداخت گذشت", "The payment expired"),
    (
        "payment.expired.detail",
        "پرداختی انجام نشد. می‌توانید دوباره پرداخت کنید.",
        "Nothing was paid. You may pay again.",
    ),
    ("again", "استعلام دوباره", "Another inquiry"),
    (
        "signin_intro",
        "کد ملی و شماره موبایل خود را وارد کنید تا کد یک‌بارمصرف برایتان فرستاده شود.",
        "Enter your national ID and mobile number to receive a one-time code.",
    ),
    ("national_id", "کد ملی", "National ID"),
    ("national_id_help", "۱۰ رقم، بدون خط تیره", "10 digits"),
    ("mobile", "شماره موبایل", "Mobile number"),
    ("mobile_help", "مثلاً ۰۹۱۲۱۲۳۴۵۶۷", "e.g. 09121234567"),
    ("send_code", "دریافت کد", "Send code"),
    ("code_sent", "کد یک‌بارمصرف فرستاده شد به", "A one-time code was sent to"),
    ("code", "کد تأیید", "Code"),
    ("code_help", "کد ۵ رقمی پیامک‌شده", "The 5-digit code from the text message"),
    ("verify", "ورود", "Sign in"),
    ("code_again", "کد نرسید؟ دوباره درخواست کنید", "No code? Ask again"),
    ("or", "یا", "or"),
    ("signin_with", "ورود با", "Sign in with"),
    ("status", "وضعیت", "Status"),
    ("status.pending", "در حال ثبت", "Being filed"),
    ("status.submitted", "ثبت شده", "Submitted"),
    ("status.in-review", "در حال بررسی", "In review"),
    ("status.action-required", "نیاز به اقدام شما", "Action required"),
    ("status.approved", "تأیید شده", "Approved"),
    ("status.rejected", "رد شده", "Rejected"),
    ("status.completed", "انجام شده", "Completed"),
    ("status.cancelled", "لغو شده", "Cancelled"),
    ("actor.citizen", "ثبت توسط شما", "Filed by you"),
    ("actor.agency", "از سوی دستگاه", "From the agency"),
    ("actor.operator", "از سوی پشتیبانی", "From support"),
    ("no_applications", "هنوز درخواستی ثبت نکرده‌اید.", "You have not filed any application yet."),
    ("browse_applications", "خدمات درخواستی", "Services you can apply for"),
    ("filed", "درخواست شما ثبت شد.", "Your application was filed."),
    ("keep_code", "کد پیگیری را نگه دارید.", "Keep the tracking code."),
    ("agency_reference", "شماره پرونده در دستگاه", "Agency's reference"),
    ("filed_at", "زمان ثبت", "Filed"),
    ("timeline", "روند رسیدگی", "Progress"),
    (
        "usage_intro",
        "هر بار که اطلاعات هویتی شما به دستگاهی داده شد، اینجا ثبت می‌شود.",
        "Every time your identity data was handed to an agency, it is listed here.",
    ),
    ("when", "زمان", "When"),
    ("service", "خدمت", "Service"),
    ("attribute", "اطلاعات", "Data"),
    ("purpose", "برای", "For"),
    ("no_usage", "تاکنون اطلاعاتی از شما به دستگاهی داده نشده است.", "No agency has received your data yet."),
    ("error", "خطا", "Error"),
    ("forbidden", "دسترسی مجاز نیست", "Forbidden"),
    ("not_found", "یافت نشد", "Not found"),
    ("error.csrf", "فرم منقضی شده است", "The form has expired"),
    (
        "error.csrf.detail",
        "صفحه را دوباره باز کنید و فرم را از نو بفرستید.",
        "Open the page again and resend the form.",
    ),
    ("province.alborz", "البرز", "Alborz"),
    ("province.ardabil", "اردبیل", "Ardabil"),
    ("province.bushehr", "بوشهر", "Bushehr"),
    ("province.chaharmahal-bakhtiari", "چهارمحال و بختیاری", "Chaharmahal and Bakhtiari"),
    ("province.east-azerbaijan", "آذربایجان شرقی", "East Azerbaijan"),
    ("province.fars", "فارس", "Fars"),
    ("province.gilan", "گیلان", "Gilan"),
    ("province.golestan", "گلستان", "Golestan"),
    ("province.hamadan", "همدان", "Hamadan"),
    ("province.hormozgan", "هرمزگان", "Hormozgan"),
    ("province.ilam", "ایلام", "Ilam"),
    ("province.isfahan", "اصفهان", "Isfahan"),
    ("province.kerman", "کرمان", "Kerman"),
    ("province.kermanshah", "کرمانشاه", "Kermanshah"),
    ("province.khorasan-razavi", "خراسان رضوی", "Razavi Khorasan"),
    ("province.khuzestan", "خوزستان", "Khuzestan"),
    ("province.kohgiluyeh-boyer-ahmad", "کهگیلویه و بویراحمد", "Kohgiluyeh and Boyer-Ahmad"),
    ("province.kurdistan", "کردستان", "Kurdistan"),
    ("province.lorestan", "لرستان", "Lorestan"),
    ("province.markazi", "مرکزی", "Markazi"),
    ("province.mazandaran", "مازندران", "Mazandaran"),
    ("province.north-khorasan", "خراسان شمالی", "North Khorasan"),
    ("province.qazvin", "قزوین", "Qazvin"),
    ("province.qom", "قم", "Qom"),
    ("province.semnan", "سمنان", "Semnan"),
    ("province.sistan-baluchestan", "سیستان و بلوچستان", "Sistan and Baluchestan"),
    ("province.south-khorasan", "خراسان جنوبی", "South Khorasan"),
    ("province.tehran", "تهران", "Tehran"),
    ("province.west-azerbaijan", "آذربایجان غربی", "West Azerbaijan"),
    ("province.yazd", "یزد", "Yazd"),
    ("province.zanjan", "زنجان", "Zanjan"),
];

static FA: LazyLock<BTreeMap<&'static str, &'static str>> =
    LazyLock::new(|| STRINGS.iter().map(|(k, fa, _)| (*k, *fa)).collect());
static EN: LazyLock<BTreeMap<&'static str, &'static str>> =
    LazyLock::new(|| STRINGS.iter().map(|(k, _, en)| (*k, *en)).collect());

/// Every string in one language, for templates.
pub fn strings(lang: Lang) -> minijinja::Value {
    minijinja::Value::from_serialize(match lang {
        Lang::Fa => &*FA,
        Lang::En => &*EN,
    })
}

/// The Persian and English names of an application status.
pub fn status_label(status: &str) -> (&'static str, &'static str) {
    let key = format!("status.{status}");
    STRINGS.iter().find(|(k, _, _)| *k == key).map_or(("", ""), |(_, fa, en)| (*fa, *en))
}

/// One string; the key itself when missing.
pub fn get(lang: Lang, key: &str) -> &str {
    let table = match lang {
        Lang::Fa => &*FA,
        Lang::En => &*EN,
    };
    table.get(key).copied().unwrap_or(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_both_languages_filled() {
        let mut seen = std::collections::BTreeSet::new();
        for (key, fa, en) in STRINGS {
            assert!(seen.insert(key), "duplicate key {key}");
            assert!(!fa.is_empty() && !en.is_empty(), "{key}");
        }
    }
}
