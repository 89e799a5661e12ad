/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Routing keys of muster's AMQP topology (muster(7), AMQP TOPOLOGY). Each
 * returns a malloc'd key, or NULL when out of memory. */

/* "<collective>.agent.<agent>": a broadcast request to every node serving agent. */
char *routing_key_agent(const char *collective, const char *agent);
/* "<collective>.node.<identity>": a request directed at one node. With
 * identity "", the prefix that every directed key starts with. */
char *routing_key_node(const char *collective, const char *identity);
/* "<collective>.registration.<identity>": a node's heartbeat. With identity
 * "#", the binding that matches every node's. */
char *routing_key_registration(const char *collective, const char *identity);
