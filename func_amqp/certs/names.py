"""Certificate names: certmaster's subject template, CN rules, and the subject hash of func's ACL keys.

func keys its ACLs on `"<CN>-<hash>"` (func.md 1.6), where the hash is pyOpenSSL's
`X509.subject_name_hash()`: OpenSSL's `X509_NAME_hash`, returned as a **decimal** integer
(`minion01-351654531`). `openssl x509 -noout -subject_hash` prints the same number in **hex**
(`14f5d283`). This module computes it without OpenSSL bindings:

1. take the subject's DER; for each RDN (a SET) and each attribute in it, if the value is a string
   type OpenSSL canonicalises (UTF8, BMP, Universal, Printable, T61, IA5, Visible), convert it to
   UTF-8, drop leading and trailing whitespace, collapse internal whitespace runs to one space,
   lowercase ASCII letters, and re-encode it as a UTF8String; other values are kept as they are;
2. re-encode each RDN as a DER SET (members sorted) and concatenate the SETs, without the outer
   SEQUENCE;
3. SHA-1 that; the first 4 bytes, read little-endian, are the hash.

OpenSSL before 1.0 used another hash (MD5 of the whole subject DER): `subject_hash_old_hex`, as
`openssl x509 -subject_hash_old` prints it, is here only to recognise ACL files written then.

certmaster issued every certificate with one fixed subject around the CN. We issue the same
(`certmaster_subject`), so a minion's hash, and hence an existing func ACL file, is unchanged
(checked: `certmaster-CA-KEY` hashes to 1147591503, `minion01` to 351654531, as func.md observed).
"""

from __future__ import annotations

import hashlib

from cryptography import x509
from cryptography.x509.oid import NameOID

from .errors import BadRequest

# Tags whose values OpenSSL canonicalises (ASN1_MASK_CANON), with the codec of their content.
_CANON_CODECS: dict[int, str] = {
    0x0C: "utf-8",  # UTF8String
    0x1E: "utf-16-be",  # BMPString
    0x1C: "utf-32-be",  # UniversalString
    0x13: "latin-1",  # PrintableString (OpenSSL reads the 1-byte types as Latin-1)
    0x14: "latin-1",  # T61String
    0x16: "latin-1",  # IA5String
    0x1A: "latin-1",  # VisibleString
}
_SPACE = b" \t\n\v\f\r"  # ossl_isspace
_CN_MAX = 64  # ub-common-name (RFC 5280)
_CN_FORBIDDEN = set("*?[]")  # glob characters: a CN must stay addressable by sign/clean/revoke globs


# -- DER, only as much as a Name needs ------------------------------------------------------------


def _read_tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """Return (tag, content start, content end) of the TLV at `pos`; ValueError if malformed."""
    if pos + 2 > len(data):
        raise ValueError("truncated DER")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise ValueError("high tag numbers do not occur in a Name")
    first = data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        n = first & 0x7F
        if n == 0 or n > 4 or pos + n > len(data):
            raise ValueError("bad DER length")
        length = int.from_bytes(data[pos : pos + n], "big")
        pos += n
    if pos + length > len(data):
        raise ValueError("truncated DER")
    return tag, pos, pos + length


def _tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + content


def _canon_value(text: str) -> bytes:
    """OpenSSL's asn1_string_canon on the UTF-8 bytes: trim, collapse whitespace, lowercase ASCII."""
    raw = text.encode("utf-8").strip(_SPACE)
    out = bytearray()
    i = 0
    while i < len(raw):
        c = raw[i]
        if c in _SPACE:
            out.append(0x20)
            while i < len(raw) and raw[i] in _SPACE:
                i += 1
            continue
        out.append(c + 32 if 0x41 <= c <= 0x5A else c)
        i += 1
    return bytes(out)


def canonical_name_encoding(name: x509.Name) -> bytes:
    """The bytes OpenSSL hashes for X509_NAME_hash (see the module docstring)."""
    der = name.public_bytes()
    tag, start, end = _read_tlv(der, 0)
    if tag != 0x30 or end != len(der):
        raise ValueError("a Name is one SEQUENCE")
    out = bytearray()
    pos = start
    while pos < end:
        tag, set_start, set_end = _read_tlv(der, pos)
        if tag != 0x31:
            raise ValueError("an RDN is a SET")
        members = []
        p = set_start
        while p < set_end:
            tag, a_start, a_end = _read_tlv(der, p)
            if tag != 0x30:
                raise ValueError("an attribute is a SEQUENCE")
            oid_tag, _, oid_end = _read_tlv(der, a_start)
            if oid_tag != 0x06:
                raise ValueError("an attribute starts with its OID")
            v_tag, v_start, v_end = _read_tlv(der, oid_end)
            value_tlv = der[oid_end:v_end]
            codec = _CANON_CODECS.get(v_tag)
            if codec is not None:
                value_tlv = _tlv(0x0C, _canon_value(der[v_start:v_end].decode(codec)))
            members.append(_tlv(0x30, der[a_start:oid_end] + value_tlv))
            p = a_end
        out += _tlv(0x31, b"".join(sorted(members)))  # DER SET OF: members in byte order
        pos = set_end
    return bytes(out)


def _first_word_le(digest: bytes) -> int:
    return int.from_bytes(digest[:4], "little")


def subject_hash(name: x509.Name | x509.Certificate) -> int:
    """OpenSSL's X509_NAME_hash of a name (or of a certificate's subject), as an int."""
    if isinstance(name, x509.Certificate):
        name = name.subject
    return _first_word_le(hashlib.sha1(canonical_name_encoding(name)).digest())


def subject_hash_hex(name: x509.Name | x509.Certificate) -> str:
    """The hash as `openssl x509 -noout -subject_hash` prints it: 8 lowercase hex digits."""
    return f"{subject_hash(name):08x}"


def subject_hash_decimal(name: x509.Name | x509.Certificate) -> str:
    """The hash as func's ACL keys hold it (pyOpenSSL's subject_name_hash()): a decimal integer."""
    return str(subject_hash(name))


def subject_hash_old_hex(name: x509.Name | x509.Certificate) -> str:
    """OpenSSL < 1.0's hash (MD5 of the subject DER), as `openssl x509 -subject_hash_old` prints it."""
    if isinstance(name, x509.Certificate):
        name = name.subject
    return f"{_first_word_le(hashlib.md5(name.public_bytes(), usedforsecurity=False).digest()):08x}"


def hex_to_decimal(hex_hash: str) -> str:
    """`14f5d283` -> `351654531`."""
    return str(int(hex_hash, 16))


def decimal_to_hex(decimal_hash: str | int) -> str:
    """`351654531` -> `14f5d283`."""
    return f"{int(decimal_hash):08x}"


def common_name(name: x509.Name | x509.Certificate | x509.CertificateSigningRequest) -> str:
    """The (last) CN of a name, certificate or CSR; '' if it has none."""
    if not isinstance(name, x509.Name):
        name = name.subject
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    value = values[-1].value if values else ""
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def acl_key(cert: x509.Certificate) -> str:
    """func's ACL key for a certificate: `"<CN>-<decimal subject hash>"`, e.g. `minion01-351654531`."""
    return f"{common_name(cert)}-{subject_hash_decimal(cert)}"


def sanitize_cn(cn: str) -> str:
    """certmaster's CN clean-up (remove `/` and `\\`), then the checks that keep a CN a safe file name.

    Refused (BadRequest): empty, longer than 64 characters, whitespace or control characters, a
    leading `.` or `-`, or glob characters `* ? [ ]` (the admin selects hosts by glob).
    """
    cn = cn.replace("/", "").replace("\\", "")
    if not cn:
        raise BadRequest("empty common name")
    if len(cn) > _CN_MAX:
        raise BadRequest(f"common name longer than {_CN_MAX} characters")
    if cn[0] in ".-":
        raise BadRequest(f"common name may not start with {cn[0]!r}: {cn!r}")
    bad = {c for c in cn if not c.isprintable() or c.isspace() or c in _CN_FORBIDDEN}
    if bad:
        raise BadRequest(f"common name has forbidden characters {sorted(bad)!r}: {cn!r}")
    return cn


def certmaster_subject(cn: str) -> x509.Name:
    """The subject certmaster gave every certificate: C=UN, ST=FC, L=Certmaster-town, O=certmaster,
    OU=slave-key, CN=<cn>, emailAddress=root@<cn>, in that order (the order changes the hash)."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "UN"),
            x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "FC"),
            x509.NameAttribute(NameOID.LOCALITY_NAME, "Certmaster-town"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "certmaster"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "slave-key"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
            x509.NameAttribute(NameOID.EMAIL_ADDRESS, f"root@{cn}"),
        ]
    )
