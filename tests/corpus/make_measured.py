#!/usr/bin/env python3
"""Writes the guard's measured corpus, tests/corpus/measured/:

- cases.jsonl: one labelled case a line, {"class", "lang", "note", "item"}: a STIX 2.1 object
  holding customer or personal data of one class (customer-name, card, iban, national-id, phone),
  or threat data that must cross (negative, hard negatives included);
- policy-base.toml: policy/default.toml with [allow.types] replaced by every STIX 2.1 type and
  the properties the cases use, so no case is refused only for its type ("detectors on every
  type"); the test adds the register built from customers.csv (policy.toml);
- customers.csv and corpus.toml (the invented register and the context screened under).

How the cases are written, and why they are independent of the detector code: the sentences are
an analyst's, in English, German, French and Spanish, for the property of the object type where
such text goes (a report's description, a note's content, a sighting's description, an e-mail's
body, a user account's display name, ...). The identifiers are drawn from each scheme's public
definition (card issuer ranges and Luhn, ISO 13616 country formats and mod-97, the SSA's, HMRC's,
BZSt's, INSEE's, the Spanish ministry's, the Agenzia delle Entrate's, the Dutch and Polish
schemes, national numbering plans), computed here from those definitions, not from the guard's
regular expressions. Customer names appear as analysts write them: shortened, without or with a
different legal form, transliterated, in other case, hyphenated, possessive, broken over lines.

Deterministic: a fixed seed, so re-running writes the same bytes.
Re-run after editing: python3 tests/corpus/make_measured.py
"""
import json, os, random, re, string, uuid

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "measured")
ROOT = os.path.dirname(os.path.dirname(HERE))
NS = uuid.UUID("0b5f3f2e-77a4-4c1e-9d0a-5a1c2d3e4f50")
GREEN = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
R = random.Random(20261202)
LANGS = ["en", "de", "fr", "es"]

# ---------------------------------------------------------------- the invented customer register
CUSTOMERS = [
    # (registered name, surface forms an analyst might write)
    ("Acme Bank", ["Acme Bank", "ACME BANK", "acme bank", "Acme-Bank", "Acme Bank's", "Acme\nBank",
                   "Acme Bank Inc.", "Acme Bank, Inc."]),
    ("Nordwind Versicherung AG", ["Nordwind Versicherung AG", "Nordwind Versicherung",
                                  "NORDWIND VERSICHERUNG", "Nordwind-Versicherung",
                                  "Nordwind Versicherungs", "Nordwind\nVersicherung AG"]),
    ("Müller Logistik GmbH", ["Müller Logistik GmbH", "Mueller Logistik", "MÜLLER LOGISTIK",
                              "Muller Logistik GmbH", "Müller-Logistik", "Müller Logistik G.m.b.H.",
                              "Müller Logistiks"]),
    ("Zwölf Brücken e.V.", ["Zwölf Brücken e.V.", "Zwoelf Bruecken", "Zwölf Brücken eV",
                            "ZWÖLF BRÜCKEN", "Zwolf Brucken e. V."]),
    ("Banque Éclair S.A.", ["Banque Éclair S.A.", "Banque Eclair", "BANQUE ÉCLAIR", "banque éclair SA",
                           "Banque-Éclair"]),
    ("Château Bellerive SARL", ["Château Bellerive SARL", "Chateau Bellerive", "CHÂTEAU BELLERIVE",
                                "Château-Bellerive", "Château Bellerive S.A.R.L."]),
    ("Ferretería Núñez S.L.", ["Ferretería Núñez S.L.", "Ferreteria Nunez", "FERRETERÍA NÚÑEZ",
                               "Ferretería Núñez SL", "ferretería núñez"]),
    ("Aceros del Cantábrico S.A.", ["Aceros del Cantábrico S.A.", "Aceros del Cantabrico",
                                    "ACEROS DEL CANTÁBRICO", "Aceros del Cantábrico SA"]),
    ("Globex Insurance Ltd", ["Globex Insurance Ltd", "Globex Insurance", "GLOBEX INSURANCE LIMITED",
                              "Globex Insurance's", "Globex-Insurance"]),
    ("O'Brien Freight plc", ["O'Brien Freight plc", "O'Brien Freight", "O’Brien Freight PLC",
                             "O'BRIEN FREIGHT"]),
    ("Van Dijk Beheer B.V.", ["Van Dijk Beheer B.V.", "Van Dijk Beheer", "van Dijk Beheer BV",
                              "VAN DIJK BEHEER"]),
    ("Stadtwerke Kleinhausen", ["Stadtwerke Kleinhausen", "Stadtwerke Kleinhausen GmbH",
                                "STADTWERKE KLEINHAUSEN", "Stadtwerke-Kleinhausen"]),
    ("Clínica San Rafael", ["Clínica San Rafael", "Clinica San Rafael", "CLÍNICA SAN RAFAEL",
                            "Clínica San Rafael S.L."]),
    ("Hôtel des Quatre Vents", ["Hôtel des Quatre Vents", "Hotel des Quatre Vents",
                                "HÔTEL DES QUATRE VENTS", "Hôtel des Quatre-Vents"]),
    ("Initech Inc.", ["Initech", "INITECH", "Initech Inc", "Initech's", "Initech Corporation"]),
]
CUSTOMER_DOMAINS = ["acme-bank.example", "nordwind-versicherung.example"]

# Names that are not registered, or only a part of one: must not be refused as customer names.
OTHER_ORGS = ["Acme", "Nordwind", "Banque Populaire du Nord", "Globex", "Müller", "Bellerive",
              "Cantábrico", "Stadtwerke", "Kleinhausen Bäckerei", "San Rafael", "Van Dijk",
              "Initrode", "Wizard Spider", "FIN7", "Scattered Spider", "Lazarus Group",
              "Sandworm", "APT28", "TA505", "Emotet", "QakBot", "IcedID", "Cobalt Strike",
              "LockBit", "BlackCat", "Conti", "TrickBot", "Dridex", "Ursnif", "AsyncRAT"]
# Look-alike phishing domains the actor registered: threat data.
LOOKALIKES = ["acme-bank-login.example", "acmebank-secure.example", "acme-bank.verify-account.example",
              "nordwind-versicherung-kundenportal.example", "mueller-logistik-rechnung.example",
              "banque-eclair-securite.example", "ferreteria-nunez-pedidos.example",
              "globex-insurance-claims.example", "initech-sso.example", "vandijk-beheer-factuur.example"]

# ---------------------------------------------------------------- identifiers from their schemes


def luhn_digit(body):
    s = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        s += d
    return str((10 - s % 10) % 10)


def luhn_ok(num):
    return luhn_digit(num[:-1]) == num[-1]


def card():
    brand = R.choice(["visa", "visa", "mc", "mc2", "amex", "discover", "jcb", "diners", "unionpay"])
    if brand == "visa":
        prefix, n = "4" + "".join(R.choice(string.digits) for _ in range(5)), 16
    elif brand == "mc":
        prefix, n = str(R.randint(51, 55)), 16
    elif brand == "mc2":
        prefix, n = str(R.randint(2221, 2720)), 16
    elif brand == "amex":
        prefix, n = R.choice(["34", "37"]), 15
    elif brand == "discover":
        prefix, n = R.choice(["6011", "65", "644"]), 16
    elif brand == "jcb":
        prefix, n = str(R.randint(3528, 3589)), 16
    elif brand == "diners":
        prefix, n = R.choice(["36", "38"]), 14
    else:
        prefix, n = "62" + str(R.randint(1000, 9999)), R.choice([16, 19])
    body = prefix + "".join(R.choice(string.digits) for _ in range(n - len(prefix) - 1))
    num = body + luhn_digit(body)
    style = R.choice(["spaces", "spaces", "dashes", "compact", "compact"])
    if n == 15 and style != "compact":
        g = [num[:4], num[4:10], num[10:]]
    elif n == 14 and style != "compact":
        g = [num[:4], num[4:10], num[10:]]
    else:
        g = [num[i:i + 4] for i in range(0, n, 4)]
    return {"spaces": " ".join(g), "dashes": "-".join(g), "compact": num}[style]


IBAN_FORMATS = {  # ISO 13616 registry: BBAN as (count, kind) with n digits, a upper letters, c alnum
    "DE": [(18, "n")], "AT": [(16, "n")], "FR": [(10, "n"), (11, "c"), (2, "n")],
    "ES": [(20, "n")], "GB": [(4, "a"), (14, "n")], "NL": [(4, "a"), (10, "n")],
    "IT": [(1, "a"), (10, "n"), (12, "c")], "BE": [(12, "n")], "CH": [(5, "n"), (12, "c")],
    "PL": [(24, "n")], "PT": [(21, "n")], "IE": [(4, "a"), (14, "n")], "LU": [(3, "n"), (13, "c")],
}


def iban(country=None):
    country = country or R.choice(list(IBAN_FORMATS))
    bban = ""
    for count, kind in IBAN_FORMATS[country]:
        alphabet = {"n": string.digits, "a": string.ascii_uppercase,
                    "c": string.digits + string.ascii_uppercase}[kind]
        if kind == "c":
            alphabet = string.digits  # account numbers are mostly digits in practice
        bban += "".join(R.choice(alphabet) for _ in range(count))
    rearranged = bban + country + "00"
    num = int("".join(str(int(ch, 36)) for ch in rearranged))
    check = 98 - num % 97
    full = f"{country}{check:02d}{bban}"
    style = R.choice(["grouped", "grouped", "compact", "lower"])
    if style == "compact":
        return full
    grouped = " ".join(full[i:i + 4] for i in range(0, len(full), 4))
    return grouped.lower() if style == "lower" else grouped


def ssn():
    area = R.choice([a for a in range(1, 900) if a != 666])
    v = f"{area:03d}-{R.randint(1, 99):02d}-{R.randint(1, 9999):04d}"
    style = R.choice(["dash", "dash", "space", "label"])
    if style == "space":
        return v.replace("-", " ")
    if style == "label":
        return "SSN " + v.replace("-", "")
    return v


def nino():
    first = R.choice("ABCEGHJKLMNOPRSTWXYZ")
    second = R.choice("ABCEGHJKLMNPRSTWXYZ")
    if first + second in ("BG", "GB", "KN", "NK", "NT", "TN", "ZZ"):
        first, second = "A", "B"
    d = "".join(R.choice(string.digits) for _ in range(6))
    suffix = R.choice("ABCD")
    if R.random() < 0.5:
        return f"{first}{second} {d[:2]} {d[2:4]} {d[4:]} {suffix}"
    return f"{first}{second}{d}{suffix}"


def steuer_id():
    while True:
        digits = R.sample(range(10), 9)
        if digits[0] == 0:
            continue
        rep = R.choice(digits)
        ten = digits + [rep]
        R.shuffle(ten)
        if ten[0] == 0:
            continue
        product = 10
        for x in ten:
            s = (x + product) % 10
            s = 10 if s == 0 else s
            product = (s * 2) % 11
        check = (11 - product) % 10
        v = "".join(map(str, ten)) + str(check)
        return v if R.random() < 0.6 else f"{v[:2]} {v[2:5]} {v[5:8]} {v[8:]}"


def nir():
    sex = R.choice("12")
    yy = f"{R.randint(40, 99):02d}"
    mm = f"{R.randint(1, 12):02d}"
    dept = R.choice([f"{R.randint(1, 95):02d}", "2A", "2B", "75", "69", "13"])
    commune = f"{R.randint(1, 999):03d}"
    order = f"{R.randint(1, 999):03d}"
    body = sex + yy + mm + dept + commune + order
    n = int(body.replace("2A", "19").replace("2B", "18"))
    key = f"{97 - n % 97:02d}"
    if R.random() < 0.5:
        return f"{sex} {yy} {mm} {dept} {commune} {order} {key}"
    return body + key


def dni():
    table = "TRWAGMYFPDXBNJZSQVHLCKE"
    if R.random() < 0.6:
        n = R.randint(1000000, 99999999)
        return f"{n:08d}{table[n % 23]}" if R.random() < 0.7 else f"{n:08d}-{table[n % 23]}"
    lead = R.choice("XYZ")
    n = R.randint(0, 9999999)
    full = int("XYZ".index(lead).__str__() + f"{n:07d}")
    return f"{lead}{n:07d}{table[full % 23]}" if R.random() < 0.7 else f"{lead}-{n:07d}-{table[full % 23]}"


CF_ODD = {**{str(i): v for i, v in enumerate([1, 0, 5, 7, 9, 13, 15, 17, 19, 21])},
          **dict(zip(string.ascii_uppercase, [1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6,
                                              8, 12, 14, 16, 10, 22, 25, 24, 23]))}


def codice_fiscale():
    cons = "BCDFGHJKLMNPQRSTVZ"
    s = "".join(R.choice(cons) for _ in range(3)) + "".join(R.choice(cons + "AEIOU") for _ in range(3))
    s += f"{R.randint(40, 99):02d}" + R.choice("ABCDEHLMPRST") + f"{R.randint(1, 71):02d}"
    s += R.choice("ABCDEFGHILMZ") + f"{R.randint(1, 999):03d}"
    total = 0
    for i, ch in enumerate(s):
        if i % 2 == 0:
            total += CF_ODD[ch]
        else:
            total += int(ch) if ch.isdigit() else ord(ch) - 65
    return s + chr(65 + total % 26)


def bsn():
    while True:
        d = [R.randint(0, 9) for _ in range(8)]
        s = sum(x * (9 - i) for i, x in enumerate(d))
        last = s % 11
        if last <= 9 and any(d):
            v = "".join(map(str, d)) + str(last)
            return v if R.random() < 0.7 else f"{v[:4]}.{v[4:6]}.{v[6:]}"


def pesel():
    y = R.randint(1940, 2010)
    m = R.randint(1, 12) + (20 if y >= 2000 else 0)
    d = R.randint(1, 28)
    body = f"{y % 100:02d}{m:02d}{d:02d}{R.randint(0, 9999):04d}"
    w = [1, 3, 7, 9, 1, 3, 7, 9, 1, 3]
    c = (10 - sum(int(a) * b for a, b in zip(body, w)) % 10) % 10
    return body + str(c)


NATIONAL = [("SSN", ssn), ("NINO", nino), ("Steuer-ID", steuer_id), ("NIR", nir), ("DNI/NIE", dni),
            ("codice fiscale", codice_fiscale), ("BSN", bsn), ("PESEL", pesel)]


def rd(n):
    return "".join(R.choice(string.digits) for _ in range(n))


def phone():
    kind = R.choice(["de_mob", "de_fix", "fr_mob", "fr_fix", "es_mob", "gb_mob", "gb_fix", "it_mob",
                     "nl_mob", "pl_mob", "us"])
    intl = R.random() < 0.45
    if kind == "de_mob":
        pre = R.choice(["151", "160", "170", "171", "172", "176", "157"])
        sub = rd(8 if pre in ("151", "157", "176") else 7)
        return f"+49 {pre} {sub}" if intl else R.choice([f"0{pre} {sub}", f"0{pre}/{sub}", f"0{pre}{sub}"])
    if kind == "de_fix":
        area, sub = R.choice([("30", rd(8)), ("89", rd(8)), ("40", rd(8)), ("221", rd(7)), ("69", rd(8))])
        return f"+49 {area} {sub}" if intl else R.choice([f"0{area} {sub}", f"(0{area}) {sub}", f"0{area}-{sub}"])
    if kind == "fr_mob":
        d = R.choice("67") + rd(8)
        pairs = " ".join(d[i:i + 2] for i in range(1, 9, 2))
        return f"+33 {d[0]} {pairs}" if intl else R.choice([f"0{d[0]} {pairs}", f"0{d[0]}.{pairs.replace(' ', '.')}", f"0{d}"])
    if kind == "fr_fix":
        d = R.choice("1234") + rd(8)
        pairs = " ".join(d[i:i + 2] for i in range(1, 9, 2))
        return f"+33 {d[0]} {pairs}" if intl else f"0{d[0]} {pairs}"
    if kind == "es_mob":
        d = R.choice("67") + rd(8)
        return f"+34 {d[:3]} {d[3:6]} {d[6:]}" if intl else R.choice([f"{d[:3]} {d[3:6]} {d[6:]}", f"{d[:3]} {d[3:5]} {d[5:7]} {d[7:]}"])
    if kind == "gb_mob":
        d = "7" + R.choice(["400", "500", "700", "800", "900", "723", "956"]) + rd(6)
        return f"+44 {d[:4]} {d[4:]}" if intl else f"0{d[:4]} {d[4:]}"
    if kind == "gb_fix":
        d = "20" + R.choice("378") + rd(7)
        return f"+44 {d[:2]} {d[2:6]} {d[6:]}" if intl else f"0{d[:2]} {d[2:6]} {d[6:]}"
    if kind == "it_mob":
        d = "3" + R.choice(["20", "28", "33", "35", "39", "40", "47", "48", "49"]) + rd(7)
        return f"+39 {d[:3]} {d[3:6]} {d[6:]}" if intl else f"{d[:3]} {d[3:6]} {d[6:]}"
    if kind == "nl_mob":
        d = "6" + R.choice("1234") + rd(7)
        return f"+31 {d[0]} {d[1:]}" if intl else f"0{d[0]}-{d[1:]}"
    if kind == "pl_mob":
        d = R.choice(["50", "51", "53", "57", "60", "66", "69", "72", "78", "79", "88"]) + rd(7)
        return f"+48 {d[:3]} {d[3:6]} {d[6:]}" if intl else f"{d[:3]} {d[3:6]} {d[6:]}"
    area = R.choice(["212", "312", "415", "617", "202", "305", "713", "646"])
    ex = str(R.randint(2, 9)) + rd(2)
    line = rd(4)
    return f"+1 {area} {ex} {line}" if intl else R.choice([f"({area}) {ex}-{line}", f"{area}-{ex}-{line}", f"{area}.{ex}.{line}"])


GEN = {"card": card, "iban": iban, "phone": phone}

# ---------------------------------------------------------------- sentences, per language
# {v} is the value. Most say nothing about victims: the identifier alone must be refused.
SENTENCES = {
    "card": {
        "en": ["Card {v} was charged twice after the skimmer was installed.",
               "Fraud team flagged {v} in the carding shop dump.",
               "Payment for the VPS was made with {v}.",
               "The phishing kit log lists {v} with expiry 09/27.",
               "Transaction on {v} at 03:12 UTC, 49.90 EUR.",
               "Card number: {v}"],
        "de": ["Die Karte {v} wurde nach dem Skimming zweimal belastet.",
               "Im Dump des Carding-Shops taucht {v} auf.",
               "Kartennummer {v}, gültig bis 09/27.",
               "Die Zahlung für den Server erfolgte mit {v}.",
               "Abbuchung von {v} am 01.03.2026 um 03:12 Uhr."],
        "fr": ["La carte {v} a été débitée deux fois après l'installation du skimmer.",
               "Le numéro de carte {v} figure dans le dump du shop.",
               "Paiement du VPS effectué avec la carte {v}.",
               "Transaction sur {v} le 01/03/2026 à 03h12."],
        "es": ["La tarjeta {v} se cargó dos veces tras instalar el skimmer.",
               "El número {v} aparece en el volcado de la tienda de carding.",
               "El pago del VPS se hizo con la tarjeta {v}.",
               "Cargo en {v} el 01/03/2026 a las 03:12."],
    },
    "iban": {
        "en": ["Funds were moved to {v} within an hour.",
               "The fake invoice asked for payment to IBAN {v}.",
               "Beneficiary account: {v}",
               "Wire of 12,400 EUR sent to {v} on 2 March."],
        "de": ["Das Geld wurde innerhalb einer Stunde auf {v} überwiesen.",
               "Die gefälschte Rechnung nennt die IBAN {v}.",
               "Empfängerkonto: {v}",
               "Überweisung über 12.400 EUR an {v} am 2. März."],
        "fr": ["Les fonds ont été virés vers {v} en moins d'une heure.",
               "La fausse facture demandait un virement sur l'IBAN {v}.",
               "Compte bénéficiaire : {v}",
               "Virement de 12 400 EUR vers {v} le 2 mars."],
        "es": ["Los fondos se transfirieron a {v} en menos de una hora.",
               "La factura falsa pedía el pago a la cuenta {v}.",
               "Cuenta beneficiaria: {v}",
               "Transferencia de 12.400 EUR a {v} el 2 de marzo."],
    },
    "national-id": {
        "en": ["The leaked HR file contains {label} {v}.",
               "Identity document number {v} was used to open the account.",
               "Record 17 of the dump: {v}, date of birth redacted.",
               "The tax form submitted to the portal carries {v}."],
        "de": ["Die geleakte Personaldatei enthält {label} {v}.",
               "Zur Kontoeröffnung wurde die Nummer {v} verwendet.",
               "Datensatz 17 des Dumps: {v}, Geburtsdatum geschwärzt.",
               "Im Steuerformular steht {v}."],
        "fr": ["Le fichier RH divulgué contient le {label} {v}.",
               "Le numéro {v} a servi à ouvrir le compte.",
               "Enregistrement 17 du dump : {v}, date de naissance masquée.",
               "Le formulaire fiscal porte le numéro {v}."],
        "es": ["El fichero de RR. HH. filtrado contiene el {label} {v}.",
               "Se usó el número {v} para abrir la cuenta.",
               "Registro 17 del volcado: {v}, fecha de nacimiento tachada.",
               "El formulario fiscal lleva el número {v}."],
    },
    "phone": {
        "en": ["The caller asked to be rung back on {v}.",
               "SMS lure sent to {v} at 09:14.",
               "Contact number in the spoofed e-mail signature: {v}",
               "Two-factor codes were redirected to {v}."],
        "de": ["Der Anrufer bat um Rückruf unter {v}.",
               "Die SMS ging um 09:14 an {v}.",
               "Telefonnummer in der gefälschten Signatur: {v}",
               "Die Einmalcodes wurden auf {v} umgeleitet."],
        "fr": ["L'appelant a demandé à être rappelé au {v}.",
               "Le SMS piégé a été envoyé au {v} à 09h14.",
               "Numéro dans la signature usurpée : {v}",
               "Les codes à usage unique ont été redirigés vers le {v}."],
        "es": ["El llamante pidió que le devolvieran la llamada al {v}.",
               "El SMS se envió al {v} a las 09:14.",
               "Teléfono en la firma falsificada: {v}",
               "Los códigos de un solo uso se desviaron al {v}."],
    },
    "customer-name": {
        "en": ["Initial access at {v} came through a phished VPN account.",
               "The intrusion at {v} was contained on 3 March.",
               "Ransom note left on file servers of {v}.",
               "{v} reported the phishing wave to us on Monday.",
               "Lateral movement inside {v} lasted four days.",
               "Invoice fraud targeting {v} suppliers."],
        "de": ["Der Erstzugriff bei {v} erfolgte über ein gephishtes VPN-Konto.",
               "Der Angriff auf die {v} wurde am 3. März eingedämmt.",
               "Erpresserschreiben auf den Dateiservern der {v}.",
               "Die {v} hat uns die Phishing-Welle am Montag gemeldet.",
               "Seitliche Bewegung im Netz von {v} über vier Tage."],
        "fr": ["L'accès initial chez {v} est passé par un compte VPN hameçonné.",
               "L'intrusion chez {v} a été contenue le 3 mars.",
               "Note de rançon déposée sur les serveurs de fichiers de {v}.",
               "{v} nous a signalé la vague d'hameçonnage lundi.",
               "Mouvement latéral dans le réseau de {v} pendant quatre jours."],
        "es": ["El acceso inicial en {v} se produjo con una cuenta VPN robada.",
               "La intrusión en {v} se contuvo el 3 de marzo.",
               "Nota de rescate en los servidores de archivos de {v}.",
               "{v} nos comunicó la oleada de phishing el lunes.",
               "Movimiento lateral en la red de {v} durante cuatro días."],
    },
}
LABELS = {"en": {"SSN": "SSN", "NINO": "National Insurance number", "Steuer-ID": "German tax ID",
                 "NIR": "French social security number", "DNI/NIE": "DNI", "codice fiscale": "codice fiscale",
                 "BSN": "BSN", "PESEL": "PESEL"},
          "de": {"SSN": "SSN", "NINO": "NI-Nummer", "Steuer-ID": "Steuer-ID", "NIR": "NIR",
                 "DNI/NIE": "DNI", "codice fiscale": "Codice fiscale", "BSN": "BSN", "PESEL": "PESEL"},
          "fr": {"SSN": "SSN", "NINO": "NINO", "Steuer-ID": "numéro fiscal allemand", "NIR": "NIR",
                 "DNI/NIE": "DNI", "codice fiscale": "codice fiscale", "BSN": "BSN", "PESEL": "PESEL"},
          "es": {"SSN": "SSN", "NINO": "NINO", "Steuer-ID": "número fiscal alemán", "NIR": "NIR",
                 "DNI/NIE": "DNI", "codice fiscale": "codice fiscale", "BSN": "BSN", "PESEL": "PESEL"}}

# ---------------------------------------------------------------- objects: every type, its text
TS = "2026-03-01T10:00:00.000Z"
REF_IND = "indicator--0b5f3f2e-77a4-4c1e-9d0a-5a1c2d3e4f51"


def sid(t, key):
    return f"{t}--{uuid.uuid5(NS, key)}"


def sdo(t, ident, **props):
    o = {"type": t, "spec_version": "2.1", "id": sid(t, ident), "created": TS, "modified": TS,
         "object_marking_refs": [GREEN]}
    o.update(props)
    return o


def sco(t, ident, **props):
    o = {"type": t, "spec_version": "2.1", "id": sid(t, ident), "object_marking_refs": [GREEN]}
    o.update(props)
    return o


# (type, property, builder(key, text) -> object). Text properties of every STIX 2.1 type.
def places():
    return [
        ("report", "description", lambda k, x: sdo("report", k, name="Weekly fraud report", published=TS,
                                                    object_refs=[REF_IND], description=x)),
        ("report", "name", lambda k, x: sdo("report", k, name=x, published=TS, object_refs=[REF_IND])),
        ("note", "content", lambda k, x: sdo("note", k, content=x, object_refs=[REF_IND])),
        ("note", "abstract", lambda k, x: sdo("note", k, abstract=x, content="See ticket.", object_refs=[REF_IND])),
        ("opinion", "explanation", lambda k, x: sdo("opinion", k, opinion="agree", explanation=x,
                                                     object_refs=[REF_IND])),
        ("sighting", "description", lambda k, x: sdo("sighting", k, sighting_of_ref=REF_IND, count=2,
                                                      description=x)),
        ("incident", "description", lambda k, x: sdo("incident", k, name="Case 2026-031", description=x)),
        ("incident", "name", lambda k, x: sdo("incident", k, name=x)),
        ("grouping", "description", lambda k, x: sdo("grouping", k, context="suspicious-activity",
                                                      object_refs=[REF_IND], description=x)),
        ("observed-data", "x_analyst_comment", lambda k, x: sdo("observed-data", k, first_observed=TS,
                                                                last_observed=TS, number_observed=1,
                                                                object_refs=[REF_IND],
                                                                x_analyst_comment=x)),
        ("identity", "description", lambda k, x: sdo("identity", k, name="Fraud desk",
                                                      identity_class="organization", description=x)),
        ("location", "description", lambda k, x: sdo("location", k, region="europe", description=x)),
        ("campaign", "description", lambda k, x: sdo("campaign", k, name="Spring invoices", description=x)),
        ("intrusion-set", "description", lambda k, x: sdo("intrusion-set", k, name="Set Q", description=x)),
        ("threat-actor", "description", lambda k, x: sdo("threat-actor", k, name="Actor Q", description=x)),
        ("malware", "description", lambda k, x: sdo("malware", k, name="LoaderQ", is_family=True,
                                                     description=x)),
        ("malware-analysis", "x_analyst_comment", lambda k, x: sdo("malware-analysis", k, product="sandbox",
                                                                   result="malicious", x_analyst_comment=x)),
        ("indicator", "description", lambda k, x: sdo("indicator", k, name="Lure domain",
                                                        pattern="[domain-name:value = 'lure.evil.example']",
                                                        pattern_type="stix", valid_from=TS, description=x)),
        ("infrastructure", "description", lambda k, x: sdo("infrastructure", k, name="Relay",
                                                             description=x)),
        ("tool", "description", lambda k, x: sdo("tool", k, name="Remote tool", description=x)),
        ("attack-pattern", "description", lambda k, x: sdo("attack-pattern", k, name="Vishing",
                                                             description=x)),
        ("course-of-action", "description", lambda k, x: sdo("course-of-action", k, name="Block",
                                                               description=x)),
        ("vulnerability", "description", lambda k, x: sdo("vulnerability", k, name="CVE-2026-0001",
                                                           description=x)),
        ("relationship", "description", lambda k, x: sdo("relationship", k, relationship_type="targets",
                                                          source_ref=REF_IND,
                                                          target_ref=sid("identity", "t"),
                                                          description=x)),
        ("email-message", "body", lambda k, x: sco("email-message", k, is_multipart=False,
                                                    subject="Re: Rechnung", body=x)),
        ("email-message", "subject", lambda k, x: sco("email-message", k, is_multipart=False, subject=x)),
        ("user-account", "display_name", lambda k, x: sco("user-account", k, display_name=x)),
        ("file", "name", lambda k, x: sco("file", k, name=x)),
        ("directory", "path", lambda k, x: sco("directory", k, path="/srv/exports/" + x)),
        ("process", "command_line", lambda k, x: sco("process", k, command_line="notify.exe --text \"" + x + "\"")),
        ("software", "name", lambda k, x: sco("software", k, name=x)),
        ("windows-registry-key", "key", lambda k, x: sco("windows-registry-key", k,
                                                          key="HKEY_CURRENT_USER\\Software\\Notes\\" + x)),
        ("x509-certificate", "subject", lambda k, x: sco("x509-certificate", k, subject="CN=" + x)),
        ("mutex", "name", lambda k, x: sco("mutex", k, name=x)),
        ("artifact", "x_analyst_comment", lambda k, x: sco("artifact", k, mime_type="text/plain",
                                                           payload_bin="aGVsbG8=", x_analyst_comment=x)),
        ("network-traffic", "x_analyst_comment", lambda k, x: sco("network-traffic", k, protocols=["tcp"],
                                                                  x_analyst_comment=x)),
    ]


PLACES = places()


def allow_types():
    """Every STIX type with the properties its cases use: the all-types allow-list."""
    props = {}
    for t, _, build in PLACES:
        o = build("probe", "probe")
        props.setdefault(t, set()).update(k for k in o if k not in COMMON)
    for t in ["domain-name", "url", "ipv4-addr", "ipv6-addr", "email-addr", "mac-addr",
              "autonomous-system", "marking-definition"]:
        props.setdefault(t, set())
    props["domain-name"] |= {"value"}
    props["url"] |= {"value"}
    props["ipv4-addr"] |= {"value"}
    props["ipv6-addr"] |= {"value"}
    props["email-addr"] |= {"value", "display_name"}
    props["mac-addr"] |= {"value"}
    props["autonomous-system"] |= {"number", "name"}
    return props


COMMON = {"type", "spec_version", "id", "created", "modified", "object_marking_refs"}

# ---------------------------------------------------------------- hard negatives


def non_luhn16():
    while True:
        v = str(R.randint(1, 9)) + rd(15)
        if not luhn_ok(v):
            return v


def hexs(n):
    return "".join(R.choice("0123456789abcdef") for _ in range(n))


NEG_SENTENCES = {
    "en": ["Build {b} of the loader adds a new persistence key.",
           "The phishing page on {d} imitates the bank's login.",
           "Sample SHA-256 {h} first seen on {date}.",
           "Exploits CVE-{cve} against exposed VPN gateways.",
           "C2 at 198.51.100.{o} and 2001:db8::{o}, port 8443.",
           "{org} reused the loader with a new config; MD5 {m}.",
           "Campaign wave {n} started on {date} and peaked at 1,204 hosts.",
           "Registered {d} on {date} via a bulletproof registrar (AS64500).",
           "Version 10.0.{ver} of the dropper checks the locale first.",
           "The operator of {org} rotates infrastructure every 72 hours."],
    "de": ["Build {b} des Loaders legt einen neuen Autostart-Schlüssel an.",
           "Die Phishing-Seite auf {d} imitiert das Login der Bank.",
           "Probe SHA-256 {h}, zuerst gesehen am {date}.",
           "Nutzt CVE-{cve} gegen exponierte VPN-Gateways aus.",
           "C2 unter 198.51.100.{o} und 2001:db8::{o}, Port 8443.",
           "{org} nutzt den Loader mit neuer Konfiguration; MD5 {m}.",
           "Welle {n} begann am {date} und erreichte 1.204 Hosts.",
           "Die Domain {d} wurde am {date} über einen Bulletproof-Registrar registriert."],
    "fr": ["Le build {b} du chargeur ajoute une clé de persistance.",
           "La page d'hameçonnage sur {d} imite la connexion de la banque.",
           "Échantillon SHA-256 {h}, vu pour la première fois le {date}.",
           "Exploite la CVE-{cve} contre des passerelles VPN exposées.",
           "C2 à 198.51.100.{o} et 2001:db8::{o}, port 8443.",
           "{org} réutilise le chargeur avec une nouvelle configuration ; MD5 {m}.",
           "La vague {n} a commencé le {date} et a touché 1 204 hôtes.",
           "Le domaine {d} a été enregistré le {date} chez un registrar complaisant."],
    "es": ["La build {b} del cargador añade una clave de persistencia.",
           "La página de phishing en {d} imita el acceso del banco.",
           "Muestra SHA-256 {h}, vista por primera vez el {date}.",
           "Explota la CVE-{cve} contra pasarelas VPN expuestas.",
           "C2 en 198.51.100.{o} y 2001:db8::{o}, puerto 8443.",
           "{org} reutiliza el cargador con una nueva configuración; MD5 {m}.",
           "La oleada {n} empezó el {date} y alcanzó 1.204 equipos.",
           "El dominio {d} se registró el {date} con un registrador a prueba de balas."],
}


def a_date(lang):
    d, m = R.randint(1, 28), R.randint(1, 12)
    return R.choice({"en": [f"2026-{m:02d}-{d:02d}", f"{m}/{d}/2026", f"{d} March 2026"],
                     "de": [f"{d:02d}.{m:02d}.2026", f"{d}. März 2026", f"2026-{m:02d}-{d:02d}"],
                     "fr": [f"{d:02d}/{m:02d}/2026", f"{d} mars 2026", f"2026-{m:02d}-{d:02d}"],
                     "es": [f"{d:02d}/{m:02d}/2026", f"{d} de marzo de 2026", f"2026-{m:02d}-{d:02d}"]}[lang])


def negative_text(lang):
    t = R.choice(NEG_SENTENCES[lang])
    return t.format(b=non_luhn16(), d=R.choice(LOOKALIKES), h=hexs(64), m=hexs(32), h8=hexs(8),
                    date=a_date(lang), cve=f"{R.randint(2014, 2026)}-{R.randint(1000, 49999)}",
                    o=R.randint(2, 254), org=R.choice(OTHER_ORGS), n=R.randint(2, 9),
                    ver=R.randint(10000, 22631))


# ---------------------------------------------------------------- write
def main():
    os.makedirs(OUT, exist_ok=True)
    lines = []
    n = 0

    def emit(cls, lang, note, text):
        nonlocal n
        n += 1
        t, prop, build = PLACES[n % len(PLACES)]
        obj = build(f"{cls}-{n}", text)
        lines.append(json.dumps({"class": cls, "lang": lang, "note": f"{t}.{prop}: {note}", "item": obj},
                                ensure_ascii=False, sort_keys=True))

    for cls in ["card", "iban", "phone"]:
        for i in range(240):
            lang = LANGS[i % 4]
            v = GEN[cls]()
            emit(cls, lang, v, R.choice(SENTENCES[cls][lang]).format(v=v))
    for i in range(320):
        lang = LANGS[i % 4]
        label, gen = NATIONAL[i % len(NATIONAL)]
        v = gen()
        emit("national-id", lang, f"{label} {v}",
             R.choice(SENTENCES["national-id"][lang]).format(v=v, label=LABELS[lang][label]))
    for i in range(300):
        lang = LANGS[i % 4]
        _, forms = CUSTOMERS[i % len(CUSTOMERS)]
        v = R.choice(forms)
        emit("customer-name", lang, v.replace("\n", " "), R.choice(SENTENCES["customer-name"][lang]).format(v=v))
    for i in range(480):
        lang = LANGS[i % 4]
        emit("negative", lang, "threat data", negative_text(lang))

    with open(os.path.join(OUT, "cases.jsonl"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")

    with open(os.path.join(OUT, "customers.csv"), "w", encoding="utf-8") as f:
        f.write("kind,value\n# Invented customers of the measured corpus: no real company.\n")
        for name, _ in CUSTOMERS:
            f.write(f"name,{name}\n")
        for d in CUSTOMER_DOMAINS:
            f.write(f"domain,{d}\n")

    # The all-types policy: the default with [allow.types] listing every type the cases use.
    with open(os.path.join(ROOT, "policy", "default.toml"), encoding="utf-8") as f:
        default = f.read()
    start = default.index("[allow.types]\n")
    end = default.index("\n# How long stored payloads")
    types = allow_types()
    block = ["[allow.types]",
             "# Every STIX 2.1 type the corpus uses, with the properties its cases carry (generated)."]
    for t in sorted(types):
        block.append(f"{t} = [{', '.join(json.dumps(p) for p in sorted(types[t]))}]")
    base = default[:start] + "\n".join(block) + "\n" + default[end:]
    with open(os.path.join(OUT, "policy-base.toml"), "w", encoding="utf-8") as f:
        f.write(base)

    with open(os.path.join(OUT, "corpus.toml"), "w", encoding="utf-8") as f:
        f.write('# The measured corpus: `borderlog policy test tests/corpus/measured`.\n'
                '# policy.toml = policy-base.toml + the register of customers.csv under this test key\n'
                '# (BORDERLOG_REGEN=1 cargo test --test guard_corpus rewrites it).\n'
                'policy = "policy.toml"\n'
                'register_key = "measured-corpus-register-key-not-secret"\n'
                'sender = "vendor-research"\nrecipient = "police-network"\n'
                'purpose = "cybercrime investigation support"\n'
                'legal_basis = "data sharing agreement 2026/7, art. 6(1)(e) GDPR"\n')
    print(f"{len(lines)} cases")


if __name__ == "__main__":
    main()
