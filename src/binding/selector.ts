// Label selectors (matchLabels AND matchExpressions) evaluated against labels,
// with the semantics of metav1.LabelSelector.
import type { V1LabelSelector } from '@kubernetes/client-node';

export type Labels = Record<string, string> | undefined;

export class SelectorError extends Error {}

/** A compiled selector; throws SelectorError for selectors the apiserver would reject. */
export function compileSelector(selector: V1LabelSelector | undefined): (labels: Labels) => boolean {
  if (!selector) return () => true;
  const tests: ((labels: Record<string, string>) => boolean)[] = [];
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    tests.push((l) => l[key] === value);
  }
  for (const expr of selector.matchExpressions ?? []) {
    const { key, operator } = expr;
    const values = expr.values ?? [];
    switch (operator) {
      case 'In':
      case 'NotIn': {
        if (values.length === 0) {
          throw new SelectorError(
            `matchExpressions key ${key}: operator ${operator} needs at least one value`,
          );
        }
        const set = new Set(values);
        tests.push(
          operator === 'In'
            ? (l) => Object.hasOwn(l, key) && set.has(l[key] ?? '')
            : (l) => !Object.hasOwn(l, key) || !set.has(l[key] ?? ''),
        );
        break;
      }
      case 'Exists':
      case 'DoesNotExist':
        if (values.length > 0) {
          throw new SelectorError(`matchExpressions key ${key}: operator ${operator} takes no values`);
        }
        tests.push(operator === 'Exists' ? (l) => Object.hasOwn(l, key) : (l) => !Object.hasOwn(l, key));
        break;
      default:
        throw new SelectorError(`matchExpressions key ${key}: unknown operator ${JSON.stringify(operator)}`);
    }
  }
  return (labels) => {
    const l = labels ?? {};
    return tests.every((t) => t(l));
  };
}
