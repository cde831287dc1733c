//! Every rule the guard can cite, in one place: id (versioned), class and a one-line hint.
//!
//! A finding carries only a rule id, a JSON path and the rule's fixed hint, so no finding can
//! repeat the offending value: the hint text is static and written here.

use super::FindingClass;
use super::FindingClass::{Policy, Schema};

/// One screening rule: why it exists is in `what`; `hint` tells the sender what to fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// Versioned id, e.g. "customer.domain/1". A changed meaning gets a new version.
    pub id: &'static str,
    /// Schema findings are client errors (INVALID_ARGUMENT); policy ones are refusals
    /// (FAILED_PRECONDITION).
    pub class: FindingClass,
    /// What the rule detects, for the README table.
    pub what: &'static str,
    /// The sentence the sender sees; never contains the offending value.
    pub hint: &'static str,
}

macro_rules! rules {
    ($( $konst:ident = $id:literal, $class:ident, $what:literal, $hint:literal; )*) => {
        $( #[doc = $what] pub const $konst: &str = $id; )*
        /// All rules, in the order of the README table.
        pub const RULES: &[Rule] = &[ $( Rule { id: $id, class: $class, what: $what, hint: $hint }, )* ];
    };
}

rules! {
    SCHEMA_JSON = "schema.json/1", Schema,
        "The item is not a single JSON object (bad UTF-8, bad JSON, nested too deep).",
        "Send one STIX 2.1 object as a JSON object.";
    SCHEMA_SIZE = "schema.size/1", Schema,
        "The item is larger than the policy's item size limit.",
        "Split the item or shorten its text; it exceeds the policy's size limit.";
    SCHEMA_DUPLICATE_KEY = "schema.duplicate-key/1", Schema,
        "A JSON object repeats a key: parsers disagree on which value wins, so it could hide data.",
        "Remove the repeated key from this JSON object.";
    SCHEMA_TYPE = "schema.type/1", Schema,
        "The STIX type is missing or malformed.",
        "Set `type` to a lowercase STIX 2.1 type name.";
    SCHEMA_ID = "schema.id/1", Schema,
        "The id is missing or is not `<type>--<uuid>` with the item's own type.",
        "Set `id` to `<type>--<UUID>` using this object's type.";
    SCHEMA_SPEC_VERSION = "schema.spec-version/1", Schema,
        "spec_version is missing (SDO, SRO, marking) or is not \"2.1\".",
        "Set `spec_version` to \"2.1\".";
    SCHEMA_TIMESTAMP = "schema.timestamp/1", Schema,
        "A required timestamp is missing, or a timestamp is not RFC 3339 UTC (`YYYY-MM-DDTHH:MM:SS[.s]Z`).",
        "Give this timestamp as RFC 3339 in UTC, e.g. 2024-01-31T12:00:00.000Z.";
    SCHEMA_REQUIRED = "schema.required/1", Schema,
        "A property that STIX 2.1 requires for this type is missing.",
        "Add the property STIX 2.1 requires for this object type.";
    SCHEMA_VALUE = "schema.value/1", Schema,
        "A property has the wrong JSON type or form (e.g. a ref that is not an identifier).",
        "Give this property the JSON type and form STIX 2.1 defines for it.";
    TLP_COUNT = "tlp.count/1", Schema,
        "The item does not carry exactly one TLP 2.0 marking in object_marking_refs.",
        "Put exactly one TLP 2.0 marking-definition id in `object_marking_refs`.";
    TLP_FOREIGN = "tlp.foreign/1", Policy,
        "A marking other than the five FIRST TLP 2.0 marking definitions is referenced.",
        "Use only the FIRST TLP 2.0 marking definitions; remove other markings.";
    TLP_RED_RECIPIENT = "tlp.red-recipient/1", Policy,
        "TLP:RED to a recipient the policy does not name for TLP:RED.",
        "This recipient may not receive TLP:RED under the policy; downgrade or do not send.";
    CONTEXT_DECLARED = "context.declared/1", Policy,
        "The disclosure declares no purpose or no legal basis.",
        "Declare the purpose and the legal basis of the disclosure.";
    ALLOW_TYPE = "allow.type/1", Policy,
        "The object type is not on the policy's allow-list.",
        "This object type may not cross the boundary under the policy.";
    ALLOW_PROPERTY = "allow.property/1", Policy,
        "The property is not allowed for this object type (unknown properties are refused).",
        "Remove this property; the policy does not allow it for this object type.";
    ALLOW_IDENTITY = "allow.identity/1", Policy,
        "An identity that is neither an organisation/group nor a threat-actor persona under a law-enforcement purpose.",
        "Only organisations, groups, and individuals as threat-actor personas (under a law-enforcement purpose) may be shared.";
    ALLOW_PATTERN_TYPE = "allow.pattern-type/1", Policy,
        "The indicator's pattern_type is not on the policy's list.",
        "Use a pattern_type the policy allows (see the policy's [allow] pattern_types).";
    CUSTOMER_KEY = "customer.key/1", Policy,
        "The policy has a customer register but the guard was not given the owner's register key.",
        "The customer register cannot be checked without the owner's register key; load it.";
    CUSTOMER_DOMAIN = "customer.domain/1", Policy,
        "A host name or e-mail domain is, or is under, a registered customer domain.",
        "Remove the customer's domain (also in URLs, e-mail addresses and patterns).";
    CUSTOMER_EMAIL = "customer.email/1", Policy,
        "An e-mail address is a registered customer address.",
        "Remove the customer's e-mail address.";
    CUSTOMER_NETWORK = "customer.network/1", Policy,
        "An IP address or range overlaps a registered customer network.",
        "Remove or narrow the address/range: it overlaps a customer network.";
    CUSTOMER_ACCOUNT = "customer.account/1", Policy,
        "A string matches a customer account-id pattern.",
        "Remove the customer account id.";
    CUSTOMER_NAME = "customer.name/1", Policy,
        "An object's name or alias is a registered customer name.",
        "Remove the customer's name from this name or alias.";
    INSIDE_IP = "inside.ip/1", Policy,
        "A private or special-use address (RFC 1918, 5735, 6598, IPv6 special ranges): some network's inside.",
        "Remove the private or special-use address; it describes a network's inside.";
    INSIDE_HOST = "inside.host/1", Policy,
        "An internal host name (.local, .internal, .corp, .lan, single-label names, ...).",
        "Remove the internal host name.";
    INSIDE_HOME_PATH = "inside.home-path/1", Policy,
        "A user home path with a real user name (C:\\Users\\<name>, /home/<name>, /Users/<name>).",
        "Replace the user name in the home path with a placeholder such as %USERNAME%.";
    INSIDE_ACCOUNT = "inside.account/1", Policy,
        "A user account of a monitored environment (user-account pattern, DOMAIN\\user).",
        "Remove the user account.";
    INSIDE_MAILBOX = "inside.mailbox/1", Policy,
        "A victim's mailbox: an e-mail address as a message recipient or in a victim context.",
        "Remove the victim's e-mail address (recipients and victims' mailboxes may not cross).";
    PERSONAL_CARD = "personal.card/1", Policy,
        "A payment card number (Luhn-valid) in a victim context.",
        "Remove the payment card number.";
    PERSONAL_IBAN = "personal.iban/1", Policy,
        "An IBAN (mod-97 valid) in a victim context.",
        "Remove the bank account number.";
    PERSONAL_SSN = "personal.ssn/1", Policy,
        "A US social security number in a victim context.",
        "Remove the national id number.";
    PERSONAL_NINO = "personal.nino/1", Policy,
        "A UK national insurance number in a victim context.",
        "Remove the national id number.";
    PERSONAL_PHONE = "personal.phone/1", Policy,
        "A phone number in a victim context.",
        "Remove the phone number.";
    CUSTOMER_NAME_2 = "customer.name/2", Policy,
        "Format 2: a registered customer name anywhere in the item's text, after canonicalisation (case, diacritics and ü/ue, legal forms, punctuation, hyphens, line breaks, possessives).",
        "Remove the customer's name from this text.";
    PERSONAL_CARD_2 = "personal.card/2", Policy,
        "Format 2: a payment card number (issuer prefix, 13-19 digits in any grouping, Luhn-valid), wherever it is.",
        "Remove the payment card number (or record it as actor-owned as the policy's [exceptions] allow).";
    PERSONAL_IBAN_2 = "personal.iban/2", Policy,
        "Format 2: an IBAN (any country, compact or grouped, country format and mod-97 valid), wherever it is.",
        "Remove the bank account number (or record it as actor-owned as the policy's [exceptions] allow).";
    PERSONAL_SSN_2 = "personal.ssn/2", Policy,
        "Format 2: a US social security number (123-45-6789, 123 45 6789, or nine digits after \"SSN\"), wherever it is.",
        "Remove the national id number.";
    PERSONAL_NINO_2 = "personal.nino/2", Policy,
        "Format 2: a UK national insurance number, wherever it is.",
        "Remove the national id number.";
    PERSONAL_TAX_ID_DE = "personal.tax-id-de/1", Policy,
        "Format 2: a German tax identification number (Steuer-ID, ISO 7064 check digit).",
        "Remove the national id number.";
    PERSONAL_NIR = "personal.nir/1", Policy,
        "Format 2: a French social security number (NIR, mod-97 key).",
        "Remove the national id number.";
    PERSONAL_DNI = "personal.dni/1", Policy,
        "Format 2: a Spanish DNI or NIE (mod-23 letter).",
        "Remove the national id number.";
    PERSONAL_CODICE_FISCALE = "personal.codice-fiscale/1", Policy,
        "Format 2: an Italian codice fiscale (check letter).",
        "Remove the national id number.";
    PERSONAL_BSN = "personal.bsn/1", Policy,
        "Format 2: a Dutch citizen service number (BSN, 11-proef).",
        "Remove the national id number.";
    PERSONAL_PESEL = "personal.pesel/1", Policy,
        "Format 2: a Polish PESEL (check digit, birth date).",
        "Remove the national id number.";
    PERSONAL_PHONE_2 = "personal.phone/2", Policy,
        "Format 2: a phone number valid for its country (international form, or national form of a region the policy lists), wherever it is.",
        "Remove the phone number (or record it as actor-owned as the policy's [exceptions] allow).";
}

/// Looks a rule up by id (for hints and classes); every id used in code is in [`RULES`].
pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}
