/**
 * Repositories: READMEs, docs and source files. Code (fenced blocks, inline code, indentation) is
 * kept byte-for-byte; badges, HTML comments and inline HTML outside code are removed.
 */
import { mapOutsideCode, stripInlineHtml } from './html.ts';

const BADGE_HOSTS = /(?:shields\.io|badgen\.net|badge\.fury\.io|travis-ci\.(?:org|com)|circleci\.com|codecov\.io|coveralls\.io|app\.codacy\.com|api\.codeclimate\.com|snyk\.io\/test|pepy\.tech\/badge|readthedocs\.org\/projects\/[^/)\s]+\/badge|deepsource\.io|sonarcloud\.io\/api\/project_badges|bestpractices\.(?:coreinfrastructure|dev)|api\.netlify\.com\/api\/v1\/badges|img\.buymeacoffee\.com|ko-fi\.com\/img|github\.com\/[^)\s]+\/(?:actions\/)?workflows\/[^)\s]+\/badge\.svg|gitlab\.com\/[^)\s]+\/badges\/|badge\.svg|\/badges?\/)/i;
/** [![alt](badge)](link) and ![alt](badge), with an optional reference-style variant. */
const LINKED_IMAGE = /\[!\[[^\]\n]{0,300}\]\(([^)\s]{1,2000})(?:\s+"[^"\n]{0,300}")?\)\]\([^)\s]{0,2000}\)/g;
const IMAGE = /!\[[^\]\n]{0,300}\]\(([^)\s]{1,2000})(?:\s+"[^"\n]{0,300}")?\)/g;

function dropBadges(segment: string): string {
  if (!segment.includes('](')) return segment;
  return segment
    .replace(LINKED_IMAGE, (m: string, src: string) => (BADGE_HOSTS.test(src) ? '' : m))
    .replace(IMAGE, (m: string, src: string) => (BADGE_HOSTS.test(src) ? '' : m));
}

/** Lines that held only badges or stripped tags end up blank; whitespace normalisation folds them. */
function cleanProse(segment: string): string {
  return stripInlineHtml(dropBadges(segment))
    .split('\n')
    .map((line) => (/^[ \t]*$/.test(line) ? '' : line))
    .join('\n');
}

/** Category step for "repository" (shared normalisation and masking run around it). */
export function cleanRepositoryText(text: string): string {
  return mapOutsideCode(text, cleanProse);
}
