"""Units of quantity on trade declarations: UN/ECE Recommendation 20 codes."""

from __future__ import annotations

from borderflow.identifiers._common import reject, text

# The subset of UN/ECE Recommendation 20, Revision 17 (2021), "Codes for Units of Measure Used in
# International Trade", used on customs declarations (no maintained PyPI package carries it):
# mass, length, area, volume, energy and count units, including the WCO supplementary units, and
# the package types of UN/ECE Recommendation 21, Revision 12 (2021), with the "X" prefix under
# which they serve as units of quantity. Only codes that are current (not deprecated nor deleted)
# in those revisions are listed, with their English names.
REC20_UNITS: dict[str, str] = {
    # mass
    "KGM": "kilogram",
    "GRM": "gram",
    "MGM": "milligram",
    "HGM": "hectogram",
    "DTN": "decitonne",
    "TNE": "tonne (metric ton)",
    "KTN": "kilotonne",
    "LBR": "pound",
    "ONZ": "ounce (avoirdupois)",
    "STN": "ton (US) or short ton (UK/US)",
    "LTN": "ton (UK) or long ton (US)",
    "CTM": "metric carat",
    "KDW": "kilogram drained net weight",
    "KNI": "kilogram of nitrogen",
    "KPO": "kilogram of potassium oxide",
    "KPH": "kilogram of potassium hydroxide (caustic potash)",
    "KSH": "kilogram of sodium hydroxide (caustic soda)",
    "KSD": "kilogram of substance 90 % dry",
    "KPP": "kilogram of phosphorus pentoxide (phosphoric anhydride)",
    "KMA": "kilogram of methylamine",
    "KUR": "kilogram of uranium",
    "GFI": "gram of fissile isotope",
    # length
    "MTR": "metre",
    "CMT": "centimetre",
    "MMT": "millimetre",
    "KMT": "kilometre",
    "LM": "linear metre",
    "FOT": "foot",
    "INH": "inch",
    "YRD": "yard",
    # area
    "MTK": "square metre",
    "CMK": "square centimetre",
    "FTK": "square foot",
    # volume
    "MTQ": "cubic metre",
    "CMQ": "cubic centimetre",
    "LTR": "litre",
    "MLT": "millilitre",
    "HLT": "hectolitre",
    "LPA": "litre of pure alcohol",
    "HPA": "hectolitre of pure alcohol",
    "GLL": "gallon (US)",
    "BLL": "barrel (US)",
    "FTQ": "cubic foot",
    # energy
    "KWH": "kilowatt hour",
    "MWH": "megawatt hour (1000 kW.h)",
    # count
    "C62": "one",
    "H87": "piece",
    "EA": "each",
    "NAR": "number of articles",
    "PR": "pair",
    "SET": "set",
    "KT": "kit",
    "DZN": "dozen",
    "GRO": "gross",
    "CEN": "hundred",
    "MIL": "thousand",
    "T3": "thousand piece",
    "NMP": "number of packs",
    "NPT": "number of parts",
    "NCL": "number of cells",
    "HEA": "head",
    "STK": "stick, cigarette",
    "E12": "mille",
    "LO": "lot [unit of procurement]",
    # package types (Recommendation 21 codes with the X prefix)
    "XBX": "box",
    "XCT": "carton",
    "XPK": "package",
    "XPA": "packet",
    "XPC": "parcel",
    "XBG": "bag",
    "XSA": "sack",
    "XJB": "bag, jumbo",
    "XPX": "pallet",
    "XCR": "crate",
    "XFC": "crate, fruit",
    "XBK": "basket",
    "XBA": "barrel",
    "XDR": "drum",
    "XCK": "cask",
    "XKG": "keg",
    "XCS": "case",
    "XCH": "chest",
    "XCN": "container, not otherwise specified as transport equipment",
    "XBE": "bundle",
    "XBL": "bale, compressed",
    "XBN": "bale, non-compressed",
    "XRO": "roll",
    "XRL": "reel",
    "XCY": "cylinder",
    "XGB": "bottle, gas",
    "XBO": "bottle, non-protected, cylindrical",
    "XCX": "can, cylindrical",
    "XCA": "can, rectangular",
    "XCI": "canister",
    "XTN": "tin",
    "XJR": "jar",
    "XBJ": "bucket",
    "XPL": "pail",
    "XTB": "tub",
    "XPU": "tray",
    "XEN": "envelope",
    "XPP": "piece",
    "XUN": "unit",
    "XNE": "unpacked or unpackaged",
    "XVL": "bulk, liquid",
    "XVG": "bulk, gas (at 1031 mbar and 15°C)",
    "XVQ": "bulk, liquefied gas (at abnormal temperature/pressure)",
    "XVR": "bulk, solid, granular particles (“grains”)",
    "XVY": "bulk, solid, fine particles (“powders”)",
    "XVO": "bulk, solid, large particles (“nodules”)",
    "XZZ": "mutually defined",
}


def parse_unit(value: object, field: str) -> str:
    """A unit of quantity code ("KGM"), uppercased; raise InvalidInput if not in REC20_UNITS.

    REC20_UNITS is the subset of UN/ECE Recommendation 20, Revision 17, used on customs
    declarations (with the X-prefixed package types of Recommendation 21).
    """
    code = text(value, field, "unit", "đơn vị tính", "计量单位").upper()
    if code not in REC20_UNITS:
        raise reject(
            field,
            f"unit {code} is not a UN/ECE Recommendation 20 code used on declarations "
            "(e.g. KGM, TNE, C62, XCT)",
            f"đơn vị {code} không phải mã UN/ECE Khuyến nghị 20 dùng trên tờ khai "
            "(ví dụ KGM, TNE, C62, XCT)",
            f"计量单位{code}不是报关单使用的联合国欧洲经委会第20号建议代码（例如KGM、TNE、C62、XCT）",
        )
    return code
