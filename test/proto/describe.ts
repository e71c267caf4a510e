// Flattens a resolved protobufjs Root into wire-relevant facts, one per line, so two
// proto sets can be compared entry by entry (test/proto/fidelity.test.ts).
//
// Contract: describeRoot(root) returns a Map from a key naming one element to a
// canonical value; two roots are wire-identical (same names, numbers, types, labels,
// enum values, oneofs, services and streaming flags) exactly when the maps are equal.
// Keys:
//   message  <pkg.Msg>                       → ''
//   field    <pkg.Msg.field>                 → '<id> <repeated|singular> <type> [packed] [oneof <name>]'
//   oneof    <pkg.Msg.oneof>                 → member field names, comma-separated
//   enum     <pkg.Enum>                      → ''
//   value    <pkg.Enum.NAME>                 → '<number>'
//   service  <pkg.Svc>                       → ''
//   method   <pkg.Svc.Method>                → '<req> -> <res> reqStream=<b> resStream=<b>'
// Types are full names without the leading dot (scalars by their proto name);
// map fields fold the key type in as 'map<key,value>'.
import protobuf from 'protobufjs';
import type { Namespace, ReflectionObject, Root } from 'protobufjs';

function full(obj: ReflectionObject): string {
  return obj.fullName.replace(/^\./, '');
}

function walk(ns: Namespace, out: Map<string, string>): void {
  for (const obj of ns.nestedArray) {
    const name = full(obj);
    if (obj instanceof protobuf.Type) {
      out.set(`message ${name}`, '');
      for (const f of obj.fieldsArray) {
        const type = f.resolvedType !== null ? full(f.resolvedType) : f.type;
        const shown = f instanceof protobuf.MapField ? `map<${f.keyType},${type}>` : type;
        const packed = f.repeated && f.packed ? ' packed' : '';
        const oneof = f.partOf !== null ? ` oneof ${f.partOf.name}` : '';
        out.set(`field ${name}.${f.name}`, `${f.id} ${f.repeated ? 'repeated' : 'singular'} ${shown}${packed}${oneof}`);
      }
      for (const o of obj.oneofsArray) out.set(`oneof ${name}.${o.name}`, o.oneof.join(','));
      walk(obj, out);
    } else if (obj instanceof protobuf.Enum) {
      out.set(`enum ${name}`, '');
      for (const [valueName, n] of Object.entries(obj.values)) out.set(`value ${name}.${valueName}`, String(n));
    } else if (obj instanceof protobuf.Service) {
      out.set(`service ${name}`, '');
      for (const m of obj.methodsArray) {
        m.resolve();
        const req = m.resolvedRequestType;
        const res = m.resolvedResponseType;
        if (req === null || res === null) throw new Error(`method ${name}.${m.name} is not resolved`);
        out.set(
          `method ${name}.${m.name}`,
          `${full(req)} -> ${full(res)} reqStream=${m.requestStream === true} resStream=${m.responseStream === true}`,
        );
      }
    } else if (obj instanceof protobuf.Namespace) {
      walk(obj, out);
    }
  }
}

export function describeRoot(root: Root): Map<string, string> {
  const out = new Map<string, string>();
  walk(root, out);
  return out;
}
