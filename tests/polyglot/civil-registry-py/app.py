"""Civil registry (ثبت احوال): smart national ID card tracking, written in Python."""

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import types as t


def text(fa: str, en: str) -> t.Text:
    return t.Text(fa=fa, en=en)


class Adapter(exports.Adapter):
    def describe(self) -> t.Agency:
        service = t.Service(
            id="smart-card-tracking",
            title=text("پیگیری کارت هوشمند ملی", "Smart national ID card tracking"),
            description=text(
                "مرحله صدور کارت هوشمند ملی را با کد ملی پیگیری کنید.",
                "Track the issuing of a smart national ID card by national ID.",
            ),
            category=t.Category(id="civil-status", label=text("ثبت احوال", "Civil status")),
            kind=t.ServiceKind.INQUIRY,
            scope=t.Scope_National(),
            fields=[
                t.Field(
                    name="national-id",
                    label=text("کد ملی", "National ID"),
                    help=None,
                    kind=t.FieldType_NationalId(),
                    required=True,
                )
            ],
            min_assurance=t.Assurance.NONE,
            identity=[],
            fee_rial=None,
            expected_days=None,
        )
        return t.Agency(id="civil-registry", name=text("سازمان ثبت احوال کشور", "National Organization for Civil Registration"), services=[service])

    def inquire(self, ctx: t.CallContext, input: list[t.Value]) -> t.Document:
        values = {v.name: v.value for v in input}
        national_id = values.get("national-id", "")
        steps = [
            text("ثبت درخواست", "application received"),
            text("تأیید هویت", "identity verified"),
            text("چاپ کارت", "card printed"),
            text("ارسال به دفتر پیشخوان", "sent to the service office"),
        ]
        if ctx.service != "smart-card-tracking":
            raise Err(t.AdapterError_NotFound(text("خدمت یافت نشد", "no such service")))
        step = sum(int(d) for d in national_id) % len(steps)
        return t.Document(
            title=text("پیگیری کارت هوشمند ملی", "Smart card tracking"),
            items=[
                t.Item(label=text("کد ملی", "National ID"), value=national_id),
                t.Item(label=text("مرحله", "Step"), value=steps[step].en if ctx.locale == "en" else steps[step].fa),
            ],
            tables=[],
            bills=[],
        )

    def submit(self, ctx, input):
        raise Err(t.AdapterError_NotFound(text("این دستگاه درخواستی نمی‌پذیرد", "no applications")))

    def status(self, ctx, agency_reference):
        raise Err(t.AdapterError_NotFound(text("یافت نشد", "not found")))

    def on_callback(self, body):
        raise Err(t.AdapterError_NotFound(text("یافت نشد", "not found")))
