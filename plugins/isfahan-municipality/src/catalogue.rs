//! The desk's catalogue: thirteen service groups and their services, as citizens see them
//! in the window. Every service is offered in the province of Isfahan only.

use panjereh_plugin_sdk::types::*;

/// The province every service is scoped to.
pub const PROVINCE: &str = "isfahan";

/// The thirteen groups of the municipality's non-attendance service desk.
pub mod groups {
    use panjereh_plugin_sdk::types::{Category, Text};

    fn group(id: &str, fa: &str, en: &str) -> Category {
        Category::new(id, Text::new(fa, en))
    }

    pub fn city_council() -> Category {
        group("city-council", "شورای اسلامی شهر", "City council")
    }
    pub fn urban_planning() -> Category {
        group("urban-planning", "شهرسازی", "Urban planning")
    }
    pub fn building_and_property() -> Category {
        group("building-and-property", "ساختمان و املاک", "Building and property")
    }
    pub fn transport_and_traffic() -> Category {
        group("transport-and-traffic", "حمل‌ونقل و ترافیک", "Transport and traffic")
    }
    pub fn streets_and_urban_spaces() -> Category {
        group("streets-and-urban-spaces", "معابر و فضاهای شهری", "Streets and urban spaces")
    }
    pub fn environment_and_green_space() -> Category {
        group("environment-and-green-space", "محیط زیست و فضای سبز", "Environment and green space")
    }
    pub fn tourism() -> Category {
        group("tourism", "گردشگری", "Tourism")
    }
    pub fn culture_and_society() -> Category {
        group("culture-and-society", "فرهنگی و اجتماعی", "Culture and society")
    }
    pub fn contractors() -> Category {
        group("contractors", "پیمانکاران", "Contractors")
    }
    pub fn jobs_and_business() -> Category {
        group("jobs-and-business", "مشاغل و کسب و کار", "Jobs and business")
    }
    pub fn communications() -> Category {
        group("communications", "ارتباطات", "Communications")
    }
    pub fn public_participation() -> Category {
        group("public-participation", "مشارکت مردمی", "Public participation")
    }
    pub fn other_requests() -> Category {
        group("other-requests", "سایر درخواست‌ها", "Other requests")
    }
}

fn t(fa: &str, en: &str) -> Text {
    Text::new(fa, en)
}

fn choices(options: &[(&str, &str, &str)]) -> FieldType {
    FieldType::Choice(options.iter().map(|(id, fa, en)| Choice::new(*id, t(fa, en))).collect())
}

fn postal_code() -> Field {
    Field::new("postal-code", t("کد پستی ملک", "Postal code of the property"), FieldType::PostalCode)
        .help(t("کد پستی ۱۰ رقمی ملک در شهر اصفهان", "The property's 10-digit postal code in Isfahan"))
}

fn address() -> Field {
    Field::new("address", t("نشانی", "Address"), FieldType::Text)
        .help(t("خیابان، کوچه و پلاک یا نزدیک‌ترین نشانه", "Street, alley and number, or the nearest landmark"))
}

/// Sites of the tourism inquiry: id, Persian name, English name.
pub const SITES: [(&str, &str, &str); 5] = [
    ("naqsh-e-jahan", "میدان نقش جهان", "Naqsh-e Jahan Square"),
    ("chehel-sotoun", "کاخ چهلستون", "Chehel Sotoun Palace"),
    ("ali-qapu", "کاخ عالی‌قاپو", "Ali Qapu Palace"),
    ("hasht-behesht", "کاخ هشت‌بهشت", "Hasht Behesht Palace"),
    ("jameh-mosque", "مسجد جامع عتیق", "Jameh Mosque of Isfahan"),
];

/// Halls of the cultural-centre booking: id, Persian name, English name, seats.
pub const VENUES: [(&str, &str, &str, u32); 3] = [
    ("farshchian-hall", "تالار فرشچیان", "Farshchian Hall", 400),
    ("honar-hall", "تالار هنر", "Honar Hall", 250),
    ("khorshid-house", "فرهنگسرای خورشید", "Khorshid Cultural House", 120),
];

/// Every service, grouped as on the municipality's desk.
pub fn services() -> Vec<Service> {
    use groups::*;
    let services = vec![
        // شورای اسلامی شهر
        Service::application(
            "council-letter",
            t("ارسال نامه به شورای اسلامی شهر", "Write to the city council"),
            t(
                "نامه، درخواست یا طرح خود را برای اعضای شورای اسلامی شهر اصفهان بفرستید؛ دبیرخانه شورا آن را به کمیسیون مربوط ارجاع می‌دهد.",
                "Send a letter, request or proposal to the members of Isfahan's city council; the council's secretariat refers it to the relevant committee.",
            ),
            city_council(),
        )
        .field(Field::new("subject", t("موضوع", "Subject"), FieldType::Text))
        .field(Field::new("body", t("متن نامه", "Letter"), FieldType::LongText))
        .field(Field::new("mobile", t("شماره همراه برای پاسخ", "Mobile for the reply"), FieldType::Mobile).optional())
        .expected_days(10),
        // شهرسازی
        Service::application(
            "building-permit",
            t("درخواست صدور پروانه ساختمانی", "Building permit application"),
            t(
                "پرونده درخواست پروانه ساختمانی را بدون مراجعه حضوری تشکیل دهید. پس از بررسی شهرسازی منطقه، دستور نقشه و مبلغ عوارض صدور پروانه اعلام می‌شود.",
                "Open a building permit case without visiting an office. After the district's urban-planning review you receive the plan instructions and the permit dues.",
            ),
            urban_planning(),
        )
        .field(postal_code())
        .field(
            Field::new("registration-plate", t("پلاک ثبتی", "Land registry plate"), FieldType::Text)
                .help(t("پلاک اصلی و فرعی از سند، مثل ۱۲۳/۴۵", "Main and sub plate from the deed, like 123/45")),
        )
        .field(Field::new("plot-area", t("مساحت زمین (متر مربع)", "Plot area (m²)"), FieldType::Number))
        .field(Field::new("floors", t("تعداد طبقات درخواستی", "Floors requested"), FieldType::Number))
        .field(Field::new(
            "usage",
            t("کاربری", "Use"),
            choices(&[
                ("residential", "مسکونی", "Residential"),
                ("commercial", "تجاری", "Commercial"),
                ("mixed", "مسکونی-تجاری", "Residential and commercial"),
                ("administrative", "اداری", "Office"),
            ]),
        ))
        .field(Field::new("notes", t("توضیحات", "Notes"), FieldType::LongText).optional())
        .needs(&[IdentityAttribute::NationalId])
        .fee_rial(2_500_000)
        .expected_days(30),
        // ساختمان و املاک
        Service::inquiry(
            "property-file",
            t("استعلام پرونده ملک", "Property file inquiry"),
            t(
                "مشخصات پرونده شهرسازی ملک، پروانه و پایان‌کار و آرای کمیسیون ماده ۱۰۰ را با کد پستی ببینید.",
                "See a property's planning file, its permit and completion certificate, and the Article 100 commission's rulings, by postal code.",
            ),
            building_and_property(),
        )
        .field(postal_code())
        .for_everyone(),
        Service::inquiry(
            "renewal-dues",
            t("استعلام و پرداخت عوارض نوسازی", "Renewal dues inquiry and payment"),
            t(
                "عوارض نوسازی سال جاری ملک را با کد پستی ببینید و با شناسه قبض و شناسه پرداخت آن را بپردازید.",
                "See this year's renewal dues of a property by postal code and pay them with the bill ID and payment ID.",
            ),
            building_and_property(),
        )
        .field(postal_code())
        .for_everyone(),
        // حمل‌ونقل و ترافیک
        Service::inquiry(
            "traffic-zone-dues",
            t("استعلام عوارض طرح ترافیک", "Traffic zone charges inquiry"),
            t(
                "عوارض ورود خودرو به محدوده طرح ترافیک مرکز شهر اصفهان را با شماره پلاک ببینید و پرداخت کنید.",
                "See and pay the charges for driving into central Isfahan's traffic zone, by plate number.",
            ),
            transport_and_traffic(),
        )
        .field(Field::new("plate", t("شماره پلاک", "Plate number"), FieldType::Plate))
        .for_everyone(),
        // معابر و فضاهای شهری
        Service::application(
            "pavement-repair",
            t("درخواست ترمیم آسفالت و پیاده‌رو", "Road and pavement repair request"),
            t(
                "خرابی آسفالت، پیاده‌رو، جدول یا دریچه را گزارش دهید تا واحد عمران منطقه رسیدگی کند.",
                "Report damaged asphalt, pavement, kerbs or manholes to the district's civil works unit.",
            ),
            streets_and_urban_spaces(),
        )
        .field(address())
        .field(Field::new(
            "damage",
            t("نوع خرابی", "Damage"),
            choices(&[
                ("pothole", "چاله در آسفالت", "Pothole"),
                ("sidewalk", "خرابی پیاده‌رو", "Broken pavement"),
                ("curb", "جدول شکسته", "Broken kerb"),
                ("manhole", "دریچه باز یا ناهموار", "Open or uneven manhole"),
            ]),
        ))
        .field(Field::new("description", t("توضیحات", "Description"), FieldType::LongText).optional())
        .expected_days(7),
        // محیط زیست و فضای سبز
        Service::application(
            "tree-pruning",
            t("درخواست هرس یا قطع درخت", "Street tree pruning or removal request"),
            t(
                "هرس یا قطع درخت معابر را درخواست کنید. قطع درخت فقط با رأی کمیسیون ماده ۷ قانون حفظ و گسترش فضای سبز انجام می‌شود.",
                "Ask for a street tree to be pruned or removed. A tree is removed only on a ruling of the Article 7 green-space commission.",
            ),
            environment_and_green_space(),
        )
        .field(address())
        .field(postal_code().optional())
        .field(Field::new(
            "action",
            t("نوع درخواست", "Request"),
            choices(&[("prune", "هرس", "Pruning"), ("remove", "قطع", "Removal")]),
        ))
        .field(Field::new("tree-count", t("تعداد درخت", "Number of trees"), FieldType::Number))
        .field(
            Field::new("reason", t("دلیل درخواست", "Reason"), FieldType::LongText)
                .help(t("برای قطع درخت، دلیل را دقیق بنویسید", "For a removal, explain the reason in detail")),
        )
        .expected_days(15),
        // گردشگری
        Service::inquiry(
            "historic-sites",
            t("ساعات بازدید بناهای تاریخی", "Historic sites: opening hours and tickets"),
            t(
                "ساعات بازدید و بهای بلیت بناهای تاریخی اصفهان را ببینید.",
                "See the opening hours and ticket prices of Isfahan's historic sites.",
            ),
            tourism(),
        )
        .field(Field::new(
            "site",
            t("بنای تاریخی", "Site"),
            FieldType::Choice(SITES.iter().map(|(id, fa, en)| Choice::new(*id, t(fa, en))).collect()),
        ))
        .for_everyone(),
        // فرهنگی و اجتماعی
        Service::application(
            "venue-booking",
            t("درخواست رزرو سالن فرهنگی", "Cultural hall booking request"),
            t(
                "سالن‌های فرهنگی شهرداری را برای همایش، نمایش یا جشن محله رزرو کنید.",
                "Book one of the municipality's cultural halls for a conference, performance or neighbourhood event.",
            ),
            culture_and_society(),
        )
        .field(Field::new(
            "venue",
            t("سالن", "Hall"),
            FieldType::Choice(
                VENUES
                    .iter()
                    .map(|(id, fa, en, seats)| {
                        Choice::new(*id, t(&format!("{fa} ({seats} نفر)"), &format!("{en} ({seats} seats)")))
                    })
                    .collect(),
            ),
        ))
        .field(Field::new("event-title", t("عنوان برنامه", "Event title"), FieldType::Text))
        .field(Field::new("event-date", t("تاریخ برنامه", "Event date"), FieldType::JalaliDate))
        .field(Field::new("attendees", t("تعداد شرکت‌کنندگان", "Attendees"), FieldType::Number))
        .fee_rial(15_000_000)
        .expected_days(5),
        // پیمانکاران
        Service::inquiry(
            "contractor-rank",
            t("استعلام صلاحیت پیمانکاران", "Contractor qualification inquiry"),
            t(
                "رشته، پایه و اعتبار صلاحیت پیمانکاران طرف قرارداد شهرداری را با شناسه ملی شرکت ببینید.",
                "See the field, grade and validity of a municipal contractor's qualification by the company's national ID.",
            ),
            contractors(),
        )
        .field(Field::new("legal-id", t("شناسه ملی شرکت", "Company national ID"), FieldType::LegalId))
        .for_everyone(),
        Service::application(
            "contractor-renewal",
            t("تمدید صلاحیت پیمانکاری", "Renewal of a contractor's qualification"),
            t(
                "امضاکننده‌ی مجاز شرکت، صلاحیت پیمانکاری شرکت را برای یک سال دیگر تمدید می‌کند؛ شناسه ملی شرکت به شهرداری فرستاده می‌شود.",
                "A company's authorised signatory renews its contractor qualification for another year; the company's national ID goes to the municipality.",
            ),
            contractors(),
        )
        .for_legal_entities()
        .needs(&[IdentityAttribute::NationalId])
        .field(Field::new(
            "field",
            t("رشته", "Field"),
            choices(&[
                ("civil", "ابنیه و عمران", "Civil works"),
                ("roads", "راه و باند", "Roads"),
                ("installations", "تأسیسات", "Installations"),
                ("green-space", "فضای سبز", "Green space"),
            ]),
        ))
        .field(Field::new("grade", t("پایه درخواستی (۱ تا ۵)", "Grade asked for (1 to 5)"), FieldType::Number))
        .expected_days(10),
        // مشاغل و کسب و کار
        Service::inquiry(
            "business-dues",
            t("استعلام عوارض کسب و پیشه", "Business dues inquiry"),
            t(
                "عوارض سالانه کسب و پیشه واحد صنفی را با کد پستی محل کسب ببینید و پرداخت کنید.",
                "See and pay a shop's yearly business dues by the postal code of its premises.",
            ),
            jobs_and_business(),
        )
        .field(postal_code())
        .field(Field::new(
            "guild",
            t("رسته صنفی", "Trade"),
            choices(&[
                ("retail", "فروشگاه و خرده‌فروشی", "Shop and retail"),
                ("food", "اغذیه و رستوران", "Food and restaurants"),
                ("services", "خدمات", "Services"),
                ("workshop", "کارگاه تولیدی", "Workshop"),
            ]),
        ))
        .for_everyone(),
        // ارتباطات
        Service::application(
            "report-137",
            t("ثبت درخواست در سامانه ۱۳۷", "Report to the 137 city hotline"),
            t(
                "مشکلات شهری مثل خاموشی روشنایی معابر، پسماند رهاشده یا آب‌گرفتگی را به سامانه ارتباط مردم و شهرداری (۱۳۷) گزارش دهید.",
                "Report city problems such as dark street lights, dumped waste or flooding to the municipality's citizen hotline (137).",
            ),
            communications(),
        )
        .field(Field::new(
            "issue",
            t("موضوع", "Issue"),
            choices(&[
                ("street-light", "خاموشی روشنایی معابر", "Street light out"),
                ("waste", "پسماند و نخاله رهاشده", "Dumped waste or rubble"),
                ("flooding", "آب‌گرفتگی معبر", "Flooded street"),
                ("stray-animals", "حیوانات بلاصاحب", "Stray animals"),
                ("noise", "آلودگی صوتی", "Noise"),
            ]),
        ))
        .field(address())
        .field(Field::new("description", t("توضیحات", "Description"), FieldType::LongText).optional())
        .expected_days(3),
        // مشارکت مردمی
        Service::application(
            "suggestion-complaint",
            t("ثبت پیشنهاد، انتقاد یا شکایت", "Suggestion, criticism or complaint"),
            t(
                "پیشنهاد، انتقاد، شکایت یا قدردانی خود را درباره خدمات شهرداری ثبت کنید و پاسخ را با کد پیگیری دنبال کنید.",
                "Send a suggestion, criticism, complaint or thanks about the municipality's services and follow the answer with a tracking code.",
            ),
            public_participation(),
        )
        .field(Field::new(
            "kind",
            t("نوع", "Kind"),
            choices(&[
                ("suggestion", "پیشنهاد", "Suggestion"),
                ("criticism", "انتقاد", "Criticism"),
                ("complaint", "شکایت", "Complaint"),
                ("appreciation", "قدردانی", "Thanks"),
            ]),
        ))
        .field(Field::new("subject", t("موضوع", "Subject"), FieldType::Text))
        .field(Field::new("body", t("متن", "Message"), FieldType::LongText))
        .field(
            Field::new("unit", t("واحد یا منطقه مربوط", "Department or district concerned"), FieldType::Text)
                .optional(),
        )
        .expected_days(10),
        // سایر درخواست‌ها
        Service::application(
            "other-request",
            t("سایر درخواست‌ها", "Other requests"),
            t(
                "درخواستی که در گروه‌های دیگر نیست را ثبت کنید؛ دبیرخانه آن را به واحد مسئول ارجاع می‌دهد.",
                "File a request that fits no other group; the secretariat refers it to the responsible department.",
            ),
            other_requests(),
        )
        .field(Field::new("subject", t("موضوع", "Subject"), FieldType::Text))
        .field(Field::new("body", t("شرح درخواست", "Request"), FieldType::LongText))
        .expected_days(10),
    ];
    services.into_iter().map(|s| s.in_province(PROVINCE)).collect()
}

/// The service with this id, if the desk offers it.
pub fn find(id: &str) -> Option<Service> {
    services().into_iter().find(|s| s.id == id)
}
