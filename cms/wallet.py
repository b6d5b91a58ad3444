"""Driver wallets: balance, idempotent top-ups through a payment provider, the debit of each session, the ledger.

The balance changes only together with a ledger entry, in one statement that adds to the stored balance
(no read-modify-write race between two workers). Each payment is credited once and each session debited
once: the ledger has unique keys on both.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .config import Settings
from .errors import Conflict, InvalidInput, NotFound
from .models import LedgerEntry, Payment, SessionCharge, User, Wallet, utcnow
from .payments import PaymentProvider
from .tariff import TransactionFacts, amount_to_minor, minor_to_amount, price_unbilled
from .timeutil import iso

log = logging.getLogger(__name__)

TOPUP_MIN_MINOR = 100
TOPUP_MAX_MINOR = 50_000
IDEMPOTENCY_KEY_MAX = 128


class InsufficientBalance(Conflict):
    """The wallet holds less than the minimum needed to start charging."""


def wallet_for(session: Session, user: User, currency: str) -> Wallet:
    """The user's wallet, created empty on first use."""
    wallet = session.scalar(select(Wallet).where(Wallet.user_id == user.id))
    if wallet is None:
        wallet = Wallet(user_id=user.id, balance_minor=0, currency=currency)
        try:
            with session.begin_nested():
                session.add(wallet)
                session.flush()
        except IntegrityError:  # created meanwhile by a concurrent request
            wallet = session.execute(select(Wallet).where(Wallet.user_id == user.id)).scalar_one()
    return wallet


def post_entry(
    session: Session,
    wallet: Wallet,
    amount_minor: int,
    kind: str,
    *,
    description: str = "",
    transaction_id: int | None = None,
    payment_id: int | None = None,
) -> LedgerEntry:
    """Move ``amount_minor`` (+ credit, - debit) in or out of ``wallet`` and record it in the ledger."""
    balance = session.execute(
        update(Wallet)
        .where(Wallet.id == wallet.id)
        .values(balance_minor=Wallet.balance_minor + amount_minor, updated_at=utcnow())
        .returning(Wallet.balance_minor)
    ).scalar_one()
    wallet.balance_minor = balance
    entry = LedgerEntry(
        wallet_id=wallet.id,
        kind=kind,
        amount_minor=amount_minor,
        balance_after_minor=balance,
        transaction_id=transaction_id,
        payment_id=payment_id,
        description=description[:255],
    )
    session.add(entry)
    session.flush()
    return entry


def minimum_minor(settings: Settings) -> int:
    return int(Decimal(str(settings.min_balance_to_charge)) * 100)


def balance(session: Session, user: User, settings: Settings) -> dict:
    """The wallet as the driver sees it."""
    w = wallet_for(session, user, settings.currency)
    return {
        "balance": minor_to_amount(w.balance_minor),
        "currency": w.currency,
        "minimumToCharge": minor_to_amount(minimum_minor(settings)),
        "canCharge": w.balance_minor >= minimum_minor(settings),
    }


def require_balance_to_charge(session: Session, user: User, settings: Settings) -> None:
    """Raise :class:`InsufficientBalance` when the driver's balance is below ``CMS_MIN_BALANCE_TO_CHARGE``."""
    w = wallet_for(session, user, settings.currency)
    need = minimum_minor(settings)
    if w.balance_minor < need:
        raise InsufficientBalance(
            f"Your balance is {minor_to_amount(w.balance_minor):.2f} {w.currency}; starting to charge needs at "
            f"least {minor_to_amount(need):.2f} {w.currency}. Top up your wallet first."
        )


def entry_view(e: LedgerEntry, currency: str) -> dict:
    return {
        "id": e.id,
        "kind": e.kind,
        "amount": minor_to_amount(e.amount_minor),
        "balanceAfter": minor_to_amount(e.balance_after_minor),
        "currency": currency,
        "description": e.description,
        "sessionId": e.transaction_id,
        "topUpId": e.payment_id,
        "createdAt": iso(e.created_at),
    }


def ledger(
    session: Session, user: User, settings: Settings, *, limit: int = 50, before_id: int | None = None
) -> list[dict]:
    """The driver's wallet movements, newest first; page with ``before_id``."""
    w = wallet_for(session, user, settings.currency)
    q = select(LedgerEntry).where(LedgerEntry.wallet_id == w.id)
    if before_id is not None:
        q = q.where(LedgerEntry.id < before_id)
    return [entry_view(e, w.currency) for e in session.scalars(q.order_by(LedgerEntry.id.desc()).limit(limit))]


# ------------------------------------------------------------------------------------------------
# Top-ups
# ------------------------------------------------------------------------------------------------


def payment_view(p: Payment) -> dict:
    return {
        "id": p.id,
        "amount": minor_to_amount(p.amount_minor),
        "currency": p.currency,
        "status": p.status,
        "provider": p.provider,
        "reference": p.provider_ref,
        "checkoutUrl": p.checkout_url,
        "failureReason": p.failure_reason,
        "createdAt": iso(p.created_at),
        "completedAt": iso(p.completed_at),
    }


def start_top_up(
    session: Session,
    provider: PaymentProvider,
    user: User,
    amount,
    settings: Settings,
    idempotency_key: str | None = None,
) -> tuple[Payment, bool]:
    """Ask the provider for a top-up; returns (payment, replayed).

    The same ``idempotency_key`` returns the first payment again instead of charging twice; reusing a key
    for a different amount is refused. A payment the provider confirms at once is credited at once.
    """
    amount_minor = amount_to_minor(amount)
    if not TOPUP_MIN_MINOR <= amount_minor <= TOPUP_MAX_MINOR:
        raise InvalidInput(
            f"A top-up is between {minor_to_amount(TOPUP_MIN_MINOR):.2f} and "
            f"{minor_to_amount(TOPUP_MAX_MINOR):.2f} {settings.currency}"
        )
    if idempotency_key is not None:
        if not 1 <= len(idempotency_key) <= IDEMPOTENCY_KEY_MAX or not all("!" <= c <= "~" for c in idempotency_key):
            raise InvalidInput(f"Idempotency-Key has 1 to {IDEMPOTENCY_KEY_MAX} printable ASCII characters, no spaces")
        earlier = _payment_by_key(session, user, idempotency_key)
        if earlier is not None:
            return _replay(earlier, amount_minor), True
    wallet = wallet_for(session, user, settings.currency)
    payment = Payment(
        user_id=user.id,
        amount_minor=amount_minor,
        currency=wallet.currency,
        provider=provider.name,
        idempotency_key=idempotency_key,
        status="pending",
    )
    try:
        with session.begin_nested():
            session.add(payment)
            session.flush()
    except IntegrityError:  # the same key raced us in another request
        earlier = _payment_by_key(session, user, idempotency_key or "")
        if earlier is None:
            raise
        return _replay(earlier, amount_minor), True
    result = provider.create(payment.id, amount_minor, wallet.currency, f"Wallet top-up #{payment.id}")
    payment.provider_ref = result.provider_ref
    payment.checkout_url = result.checkout_url
    session.flush()
    if result.status in ("succeeded", "failed"):
        complete_payment(session, payment, result.status, result.reason)
    return payment, False


def _payment_by_key(session: Session, user: User, key: str) -> Payment | None:
    return session.scalar(select(Payment).where(Payment.user_id == user.id, Payment.idempotency_key == key))


def _replay(earlier: Payment, amount_minor: int) -> Payment:
    if earlier.amount_minor != amount_minor:
        raise Conflict("This Idempotency-Key was used for a top-up of a different amount")
    return earlier


def complete_payment(session: Session, payment: Payment, status: str, reason: str = "") -> Payment:
    """Record the provider's outcome; a success credits the wallet once, a late failure changes nothing."""
    if payment.status != "pending":
        return payment
    payment.completed_at = utcnow()
    if status == "succeeded":
        payment.status = "succeeded"
        owner = session.get_one(User, payment.user_id)
        wallet = wallet_for(session, owner, payment.currency)
        post_entry(
            session,
            wallet,
            payment.amount_minor,
            "topup",
            payment_id=payment.id,
            description=f"Top-up via {payment.provider}",
        )
    else:
        payment.status = "failed"
        payment.failure_reason = (reason or "declined")[:255]
    session.flush()
    return payment


def handle_webhook(session: Session, provider: PaymentProvider, body: bytes, headers) -> Payment:
    """Apply a provider's webhook call (verified by the provider: raises ``WebhookRejected`` if not genuine)."""
    event = provider.parse_webhook(body, headers)
    payment = session.scalar(
        select(Payment).where(Payment.provider == provider.name, Payment.provider_ref == event.provider_ref)
    )
    if payment is None:
        raise NotFound(f"No payment {event.provider_ref}")
    return complete_payment(session, payment, event.status, event.reason)


def top_up_of(session: Session, user: User, payment_id: int) -> Payment:
    payment = session.get(Payment, payment_id)
    if payment is None or payment.user_id != user.id:
        raise NotFound("No such top-up")
    return payment


def top_ups(session: Session, user: User, limit: int = 50) -> list[Payment]:
    return list(
        session.scalars(select(Payment).where(Payment.user_id == user.id).order_by(Payment.id.desc()).limit(limit))
    )


# ------------------------------------------------------------------------------------------------
# Billing finished sessions
# ------------------------------------------------------------------------------------------------


_INSERT_CHARGE = insert(SessionCharge.__table__).returning(SessionCharge.__table__.c.id)


def bill_transaction(session: Session, tx: TransactionFacts, settings: Settings) -> int:
    """Price a stopped session, keep its breakdown, debit the driver's wallet (once); the id of its charge.

    Reads come first and write nothing. ``tx.cost`` is set for the caller to store with the stop. A wallet debit
    runs in a savepoint, so its failure leaves the session closed but unbilled (and logged by the caller).
    """
    pricing = price_unbilled(session, tx)
    if isinstance(pricing, int):  # billed already: the id of its charge
        return pricing
    # Free sessions (no bands) debit nothing: the driver is read only when there is something to pay.
    driver = session.get(User, tx.user_id) if tx.user_id is not None and pricing.total_minor > 0 else None
    breakdown = [{**row, "from": iso(row["from"]), "to": iso(row["to"])} for row in pricing.breakdown]
    values = {
        "transaction_id": tx.id,
        "energy_wh": pricing.energy_wh,
        "total_minor": pricing.total_minor,
        "currency": settings.currency,
        "breakdown": breakdown,
        "computed_at": utcnow(),
    }
    if driver is None or driver.role != "driver":
        # A plain INSERT: it can only fail on a concurrent billing of the same session, and then the
        # charger's retry of the StopTransaction finds the charge and answers.
        charge_id = session.connection().execute(_INSERT_CHARGE, values).scalar_one()
        tx.cost = minor_to_amount(pricing.total_minor)
        return charge_id

    with session.begin_nested():
        charge_id = session.connection().execute(_INSERT_CHARGE, values).scalar_one()
        wallet = wallet_for(session, driver, settings.currency)
        post_entry(
            session,
            wallet,
            -pricing.total_minor,
            "session",
            transaction_id=tx.id,
            description=f"Charging session #{tx.id}: {pricing.energy_wh / 1000:.3f} kWh",
        )
    tx.cost = minor_to_amount(pricing.total_minor)
    return charge_id


def billing_hook(settings: Settings) -> Callable[[Session, TransactionFacts], None]:
    """What bills every session when its StopTransaction is processed (inside that unit of work): a hook for
    :class:`cms.message_runner.MessageRunner`'s ``on_transaction_stopped``."""

    def bill(session: Session, tx: TransactionFacts) -> None:
        # A billing failure must not fail the StopTransaction (the charger would retry, the session stay open);
        # only a free session's plain INSERT can, when the same session is billed twice at once (see above).
        try:
            bill_transaction(session, tx, settings)
        except Exception:
            log.exception("could not bill transaction %s", tx.id)

    return bill
