import { describe, expect, it } from 'vitest';
import { canonicalize } from '../../../src/audit/jcs.js';

/** Input/output pairs of the cyberphone/json-canonicalization test data (RFC 8785's reference suite). */
const VECTORS: [name: string, input: string, output: string][] = [
  [
    'values',
    String.raw`{ "numbers": [1E30, 4.50, 333333333.33333329, 2e-3, 0.000000000000000000000000001],
       "escaping": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/", "literals": [null, true, false] }`,
    String.raw`{"escaping":"€$\u000f\nA'B\"\\\\\"/","literals":[null,true,false],"numbers":[1e+30,4.5,333333333.3333333,0.002,1e-27]}`,
  ],
  [
    'structures',
    String.raw`{ "1": {"f": {"f": "hi","F": 5} ,"\n": 56.0}, "10": { }, "": "empty", "a": { }, "111": [ { } ], "A": { } }`,
    String.raw`{"":"empty","1":{"\n":56,"f":{"F":5,"f":"hi"}},"10":{},"111":[{}],"A":{},"a":{}}`,
  ],
  [
    'weird',
    String.raw`{ "\u20ac": "Euro Sign", "1": "One", "\u0080": "Control\u007f", "\ud83d\ude02": "Smiley",
       "\u00f6": "Latin Small Letter O With Diaeresis", "\ufb33": "Hebrew Letter Dalet With Dagesh", "</script>": "Browser Challenge" }`,
    '{"1":"One","</script>":"Browser Challenge","\u0080":"Control\u007f","ö":"Latin Small Letter O With Diaeresis","€":"Euro Sign","😂":"Smiley","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
  ],
  [
    'french',
    '{ "peach": "This sorting order", "péché": "is wrong according to French", "pêche": "but canonicalization MUST", "sin": "ingnore locale" }',
    '{"peach":"This sorting order","péché":"is wrong according to French","pêche":"but canonicalization MUST","sin":"ingnore locale"}',
  ],
  ['unicode', String.raw`{ "Unnormalized Unicode":"\u1e0d\u0307" }`, '{"Unnormalized Unicode":"\u1e0d\u0307"}'],
  [
    'RFC 8785 section 3.2.2 example',
    String.raw`{ "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
       "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/", "literals": [null, true, false] }`,
    String.raw`{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`,
  ],
  [
    'RFC 8785 section 3.2.3 sorting example',
    String.raw`{ "\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet With Dagesh", "1": "One",
       "\ud83d\ude00": "Emoji: Grinning Face", "\u0080": "Control", "\u00f6": "Latin Small Letter O With Diaeresis" }`,
    '{"\\r":"Carriage Return","1":"One","\u0080":"Control","ö":"Latin Small Letter O With Diaeresis","€":"Euro Sign","😀":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
  ],
];

/** RFC 8785 Appendix B: IEEE-754 bit patterns and their canonical text. */
const NUMBERS: [hex: string, text: string][] = [
  ['0000000000000000', '0'],
  ['8000000000000000', '0'],
  ['0000000000000001', '5e-324'],
  ['8000000000000001', '-5e-324'],
  ['7fefffffffffffff', '1.7976931348623157e+308'],
  ['ffefffffffffffff', '-1.7976931348623157e+308'],
  ['4340000000000000', '9007199254740992'],
  ['c340000000000000', '-9007199254740992'],
  ['4430000000000000', '295147905179352830000'],
  ['44b52d02c7e14af5', '9.999999999999997e+22'],
  ['44b52d02c7e14af6', '1e+23'],
  ['44b52d02c7e14af7', '1.0000000000000001e+23'],
  ['444b1ae4d6e2ef4e', '999999999999999700000'],
  ['444b1ae4d6e2ef4f', '999999999999999900000'],
  ['444b1ae4d6e2ef50', '1e+21'],
  ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
  ['3eb0c6f7a0b5ed8d', '0.000001'],
  ['41b3de4355555553', '333333333.3333332'],
  ['41b3de4355555554', '333333333.33333325'],
  ['41b3de4355555555', '333333333.3333333'],
  ['41b3de4355555556', '333333333.3333334'],
  ['41b3de4355555557', '333333333.33333343'],
  ['becbf647612f3696', '-0.0000033333333333333333'],
  ['43143ff3c1cb0959', '1424953923781206.2'],
];

describe('canonicalize (RFC 8785)', () => {
  it.each(VECTORS)('%s', (_name, input, output) => {
    expect(canonicalize(JSON.parse(input))).toBe(output);
  });

  it.each(NUMBERS)('serialises the double %s as %s', (hex, text) => {
    expect(canonicalize(Buffer.from(hex, 'hex').readDoubleBE(0))).toBe(text);
  });

  it('sorts keys by UTF-16 code units, not code points', () => {
    // U+FB33 (one unit 0xFB33) sorts after U+1F600 (units 0xD83D 0xDE00); by code point it would come first.
    expect(canonicalize({ '\ufb33': 1, '\u{1f600}': 2 })).toBe('{"\u{1f600}":2,"\ufb33":1}');
  });

  it('omits undefined properties and has no whitespace', () => {
    expect(canonicalize({ b: [1, { d: undefined, c: 'x' }], a: undefined })).toBe('{"b":[1,{"c":"x"}]}');
  });

  it.each([
    ['NaN', Number.NaN],
    ['Infinity', Infinity],
    ['a bigint', 1n],
    ['undefined in an array', [undefined]],
    ['a function', () => 1],
    ['a lone surrogate', { text: 'a\ud800b' }],
    ['a lone surrogate in a key', { 'a\udc00': 1 }],
  ])('rejects %s', (_name, value) => {
    expect(() => canonicalize(value)).toThrow(TypeError);
  });
});
