"""X12 acknowledgment code lists, as data.

* I18 — TA105 interchange note codes, with the TA104 disposition we give each (A/E/R).
* 720/620 — IK304 (999) / AK304 (997) segment syntax error codes.
* 621/723 — IK403 (999) / AK403 (997) element syntax error codes.
* 618/718 — IK502 (999) / AK502 (997) transaction set syntax error codes.
* 716 — AK905 functional group syntax error codes.

The dispositions are Carehub's policy, written here so one table answers "what does a
partner get for this": envelope damage that makes the content untrustworthy rejects the
interchange (R); a count that is off while every group is intact is noted (E).
"""

from __future__ import annotations

from types import MappingProxyType

__all__ = [
    "AK905",
    "HEALTH_CARE_GROUPS",
    "IK304",
    "IK403",
    "IK502",
    "ISA_ELEMENT_NOTE",
    "TA1_DISPOSITION",
    "TA105",
    "TO_997_AK304",
    "TO_997_AK403",
    "TO_997_AK502",
]

#: TA105 (data element I18) — interchange note codes
TA105 = MappingProxyType(
    {
        "000": "No error",
        "001": "The Interchange Control Number in the Header and Trailer Do Not Match",
        "002": "This Standard as Noted in the Control Standards Identifier is Not Supported",
        "003": "This Version of the Controls is Not Supported",
        "004": "The Segment Terminator is Invalid",
        "005": "Invalid Interchange ID Qualifier for Sender",
        "006": "Invalid Interchange Sender ID",
        "007": "Invalid Interchange ID Qualifier for Receiver",
        "008": "Invalid Interchange Receiver ID",
        "009": "Unknown Interchange Receiver ID",
        "010": "Invalid Authorization Information Qualifier Value",
        "011": "Invalid Authorization Information Value",
        "012": "Invalid Security Information Qualifier Value",
        "013": "Invalid Security Information Value",
        "014": "Invalid Interchange Date Value",
        "015": "Invalid Interchange Time Value",
        "016": "Invalid Interchange Standards Identifier Value",
        "017": "Invalid Interchange Version ID Value",
        "018": "Invalid Interchange Control Number Value",
        "019": "Invalid Acknowledgment Requested Value",
        "020": "Invalid Test Indicator Value",
        "021": "Invalid Number of Included Groups Value",
        "022": "Invalid Control Structure",
        "023": "Improper (Premature) End-of-File (Transmission)",
        "024": "Invalid Interchange Content (e.g., Invalid GS Segment)",
        "025": "Duplicate Interchange Control Number",
        "026": "Invalid Data Element Separator",
        "027": "Invalid Component Element Separator",
    }
)

#: TA104 for each note code: E = accepted with errors noted, R = rejected
TA1_DISPOSITION = MappingProxyType(
    {code: "R" for code in TA105}
    | {
        "000": "A",
        "021": "E",  # IEA01 off while every group is intact: noted
        "024": "E",  # content outside groups (stray segments) is ignored, groups processed
        "016": "E",  # 5010 ISA11 not a usable repetition separator: nothing else depends on it
    }
)

#: ISA element → the TA105 code for an invalid value in it
ISA_ELEMENT_NOTE = MappingProxyType(
    {
        1: "010",
        2: "011",
        3: "012",
        4: "013",
        5: "005",
        6: "006",
        7: "007",
        8: "008",
        9: "014",
        10: "015",
        11: "016",
        12: "017",
        13: "018",
        14: "019",
        15: "020",
        16: "027",
    }
)

#: IK304 (720) — implementation segment syntax error codes (999)
IK304 = MappingProxyType(
    {
        "1": "Unrecognized segment ID",
        "2": "Unexpected segment",
        "3": "Required Segment Missing",
        "4": "Loop Occurs Over Maximum Times",
        "5": "Segment Exceeds Maximum Use",
        "6": "Segment Not in Defined Transaction Set",
        "7": "Segment Not in Proper Sequence",
        "8": "Segment Has Data Element Errors",
        "I4": 'Implementation "Not Used" Segment Present',
        "I6": "Implementation Dependent Segment Missing",
        "I7": "Implementation Loop Occurs Under Minimum Times",
        "I8": "Implementation Segment Below Minimum Use",
        "I9": 'Implementation Dependent "Not Used" Segment Present',
    }
)

#: IK403 (621) — implementation data element syntax error codes (999)
IK403 = MappingProxyType(
    {
        "1": "Required Data Element Missing",
        "2": "Conditional Required Data Element Missing",
        "3": "Too Many Data Elements",
        "4": "Data Element Too Short",
        "5": "Data Element Too Long",
        "6": "Invalid Character In Data Element",
        "7": "Invalid Code Value",
        "8": "Invalid Date",
        "9": "Invalid Time",
        "10": "Exclusion Condition Violated",
        "12": "Too Many Repetitions",
        "13": "Too Many Components",
        "I10": 'Implementation "Not Used" Data Element Present',
        "I11": "Implementation Too Few Repetitions",
        "I12": "Implementation Pattern Match Failure",
        "I13": 'Implementation Dependent "Not Used" Data Element Present',
        "I6": "Code Value Not Used in Implementation",
        "I9": "Implementation Dependent Data Element Missing",
    }
)

#: IK502 (618) — transaction set syntax error codes (999), the ones we emit
IK502 = MappingProxyType(
    {
        "1": "Transaction Set Not Supported",
        "2": "Transaction Set Trailer Missing",
        "3": "Transaction Set Control Number in Header and Trailer Do Not Match",
        "4": "Number of Included Segments Does Not Match Actual Count",
        "5": "One or More Segments in Error",
        "6": "Missing or Invalid Transaction Set Identifier",
        "7": "Missing or Invalid Transaction Set Control Number",
        "18": "Transaction Set not in Functional Group",
        "19": "Invalid Transaction Set Implementation Convention Reference",
        "23": "Transaction Set Control Number Not Unique within the Functional Group",
        "I5": "Implementation One or More Segments in Error",
        "I6": "Implementation Convention Not Supported",
    }
)

#: AK905 (716) — functional group syntax error codes, the ones we emit
AK905 = MappingProxyType(
    {
        "1": "Functional Group Not Supported",
        "2": "Functional Group Version Not Supported",
        "3": "Functional Group Trailer Missing",
        "4": "Group Control Number in the Functional Group Header and Trailer Do Not Agree",
        "5": "Number of Included Transaction Sets Does Not Match Actual Count",
        "6": "Group Control Number Violates Syntax",
        "18": "Functional Group Control Number not Unique within Interchange",
    }
)

#: GS01 values the 999 (005010X231A1 AK101) answers; other groups get a 997
HEALTH_CARE_GROUPS = frozenset({"BE", "HB", "HC", "HI", "HN", "HP", "HR", "HS", "RA"})

#: 997 (X12 4010 AK304/AK403/AK502) has no implementation ("I") codes: nearest standard one
TO_997_AK304 = MappingProxyType({"I4": "2", "I6": "3", "I7": "3", "I8": "3", "I9": "2"})
TO_997_AK403 = MappingProxyType(
    {"I10": "10", "I11": "2", "I12": "7", "I13": "10", "I6": "7", "I9": "2"}
)
TO_997_AK502 = MappingProxyType({"I5": "5", "I6": "1", "18": "5", "19": "1"})
