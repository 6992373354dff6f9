/**
 * What a PromQL expression refers to, found without a full parser: enough to check that dashboards
 * and alert rules only use metrics, labels and label values the gateway exports. Assumes string
 * literals contain no braces or quotes, which holds for the operator kit.
 */
export interface LabelMatcher {
  label: string;
  op: '=' | '!=' | '=~' | '!~';
  value: string;
}

export interface PromqlReferences {
  metrics: string[];
  matchers: LabelMatcher[];
  /** Labels named in `by`, `without`, `on`, `ignoring`, `group_left` and `group_right`. */
  groupingLabels: string[];
}

const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);
const GROUPING = /\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g;
const STRING = /"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|`([^`]*)`/g;
const IDENTIFIER = /(?<![\w.:$])[a-zA-Z_:][\w:]*/g;

export function promqlReferences(expr: string): PromqlReferences {
  const strings: string[] = [];
  let rest = expr.replace(STRING, (_m, double?: string, single?: string, raw?: string) => {
    strings.push(double ?? single ?? raw ?? '');
    return ` §${strings.length - 1} `;
  });

  const matchers: LabelMatcher[] = [];
  rest = rest.replace(/\{([^}]*)\}/g, (_m, inner: string) => {
    for (const [, label, op, index] of inner.matchAll(/([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*§(\d+)/g)) {
      matchers.push({ label: label!, op: op as LabelMatcher['op'], value: strings[Number(index)]! });
    }
    return ' ';
  });

  const groupingLabels: string[] = [];
  rest = rest.replace(GROUPING, (_m, inner: string) => {
    groupingLabels.push(...inner.split(',').map((label) => label.trim()).filter(Boolean));
    return ' ';
  });

  // Ranges and subqueries ([5m], [$__rate_interval], [1h:5m]) and the remaining string arguments.
  rest = rest.replace(/\[[^\]]*\]/g, ' ').replace(/§\d+/g, ' ');

  const metrics = [...rest.matchAll(IDENTIFIER)]
    .filter((m) => !/^\s*\(/.test(rest.slice(m.index + m[0].length)))
    .map((m) => m[0])
    .filter((name) => !KEYWORDS.has(name.toLowerCase()));
  return { metrics: [...new Set(metrics)], matchers, groupingLabels: [...new Set(groupingLabels)] };
}

/** The metric family a sample name belongs to: histograms expose `_bucket`, `_sum` and `_count`. */
export function metricFamily(name: string, families: ReadonlySet<string>): string {
  const base = name.replace(/_(?:bucket|sum|count)$/, '');
  return families.has(name) ? name : base;
}
